// The PowerShell syntax tree (tree-sitter-powershell's WebAssembly grammar)
// and what check.cjs and claims.cjs read from it: commands, their arguments,
// strings with the script's own variables put in, and the code that runs.
// Comments are nodes of their own: nothing here ever looks into one.
'use strict';
const fs = require('fs');
const { Parser, Language } = require('web-tree-sitter');

async function load() {
	await Parser.init();
	const grammar = await Language.load(require.resolve('tree-sitter-powershell/tree-sitter-powershell.wasm'));
	const parser = new Parser();
	parser.setLanguage(grammar);
	return file => {
		const text = fs.readFileSync(file, 'utf8');
		return { file, text, tree: parser.parse(text) };
	};
}

function* walk(node) {
	yield node;
	for (const child of node.children)
		yield* walk(child);
}

function errorsOf(node, out = []) {
	if (node.type === 'ERROR' || node.isMissing) {
		out.push(node);
		return out;
	}
	if (node.hasError)
		for (const child of node.children)
			errorsOf(child, out);
	return out;
}

// The grammar wraps a plain value in a chain of one-child expression nodes
// (pipeline, logical_expression, ... unary_expression): the node it holds.
function core(node) {
	for (;;) {
		const named = node.namedChildren;
		if (named.length !== 1 || named[0].text !== node.text)
			return node;
		node = named[0];
	}
}

const same = (a, b) => a.startIndex === b.startIndex && a.endIndex === b.endIndex && a.type === b.type;
const lower = s => s.toLowerCase();
const at = (file, n) => `${file}:${n.startPosition.row + 1}:${n.startPosition.column + 1}`;

function ancestor(node, types) {
	for (let a = node.parent; a; a = a.parent)
		if (types.includes(a.type))
			return a;
	return null;
}

// $Name, ${Name}, $script:Name: 'name'.
function varName(node) {
	const n = core(node);
	if (n.type !== 'variable')
		return null;
	return lower(n.text.replace(/^\$\{?/, '').replace(/\}$/, '').replace(/^(script|global|local|private):/i, ''));
}

function commandName(cmd) {
	const name = cmd.children.find(c => c.type === 'command_name');
	return name ? lower(name.text) : '';
}

// A command's elements in order: {param: '-name'} or {arg: NODE}; an
// argument written -Name:value is a param followed by its value.
function elements(cmd) {
	const out = [];
	const list = cmd.children.find(c => c.type === 'command_elements');
	for (const c of list ? list.namedChildren : []) {
		if (c.type === 'command_argument_sep' || c.type === 'comment')
			continue;
		if (c.type === 'command_parameter')
			out.push({ param: lower(c.text.replace(/:$/, '')), node: c });
		else
			out.push({ arg: c });
	}
	return out;
}

function paramArg(cmd, ...names) {
	const els = elements(cmd);
	for (let i = 0; i < els.length; i++)
		if (names.includes(els[i].param) && els[i + 1] && els[i + 1].arg)
			return els[i + 1].arg;
	return null;
}

function hasParam(cmd, name) {
	return elements(cmd).some(e => e.param === name);
}

// Arguments bound by position; parameters not in `switches` take the next
// element as their value.
function positional(cmd, switches = []) {
	const out = [];
	const els = elements(cmd);
	for (let i = 0; i < els.length; i++) {
		if (els[i].param) {
			if (!switches.includes(els[i].param) && els[i + 1] && els[i + 1].arg)
				i++;
			continue;
		}
		out.push(els[i].arg);
	}
	return out;
}

// The values a node can have, as strings, with the script's variables put
// in; null where that is not known from the text. `env` binds a function's
// parameters to the arguments of the call being followed.
function values(node, env = {}) {
	const n = core(node);
	switch (n.type) {
	case 'verbatim_string_characters':
	case 'verbatim_here_string_characters':
		return [n.text.replace(/^@?'(\r?\n)?/, '').replace(/(\r?\n)?'@?$/, '').replace(/''/g, "'")];
	case 'generic_token':
		return [unescape(n.text)];
	case 'decimal_integer_literal':
	case 'real_literal':
		return [n.text];
	case 'expandable_string_literal':
		return expand(n, env);
	case 'array_literal_expression': {
		const out = [];
		for (const c of n.namedChildren) {
			const v = values(c, env);
			if (!v)
				return null;
			out.push(...v);
		}
		return out;
	}
	case 'variable':
		return valuesOfVariable(n, env);
	default:
		return null;
	}
}

const escapes = { n: '\n', r: '\r', t: '\t', 0: '\0' };
const unescape = s => s.replace(/`(.)/g, (_, c) => escapes[c] || c);

// "text $var text": each variable replaced by its values (every
// combination); a sub-expression $(...) makes the string unknown, or with
// `partial` ends it there.
function expand(n, env, partial = false) {
	let out = [''];
	let from = n.startIndex + 1;
	const piece = (a, b) => unescape(n.text.slice(a - n.startIndex, b - n.startIndex));
	for (const c of n.namedChildren) {
		const v = c.type === 'variable' ? values(c, env) : null;
		const before = piece(from, c.startIndex);
		if (!v) {
			const p = partial && c.type === 'variable' ? prefix(c, env) : null;
			return partial ? out.map(o => o + before + (p ?? '')) : null;
		}
		out = out.flatMap(o => v.map(x => o + before + x));
		from = c.endIndex;
	}
	const rest = piece(from, n.endIndex - 1);
	return out.map(o => o + rest);
}

// What the text makes of a string before its first unknown part: "error
// $why" is 'error ', ('exit {0}' -f $code) is 'exit '.
function prefix(node, env = {}) {
	const n = core(node);
	if (n.type === 'parenthesized_expression')
		return prefix(n.namedChildren[0], env);
	if (n.type === 'format_expression') {
		const p = prefix(n.namedChildren[0], env);
		return p === null ? null : p.split('{')[0];
	}
	if (n.type === 'variable') {
		const b = env[varName(n)];
		if (b)
			return prefix(b.node, b.env);
	}
	if (n.type === 'expandable_string_literal') {
		const v = expand(n, env, true);
		return v && v.length === 1 ? v[0] : null;
	}
	const v = values(n, env);
	return v && v.length === 1 ? v[0] : null;
}

// A variable's values: a bound parameter, a foreach loop's variable over a
// list, or the one value every assignment to it in the file gives it.
function valuesOfVariable(n, env) {
	const name = varName(n);
	if (name === 'true' || name === 'false')
		return [`$${name}`];
	if (env[name])
		return values(env[name].node, env[name].env);
	for (let a = n.parent; a; a = a.parent) {
		if (a.type !== 'foreach_statement')
			continue;
		const loopVar = a.namedChildren.find(c => c.type === 'variable');
		if (loopVar && varName(loopVar) === name && !same(loopVar, n)) {
			const list = a.namedChildren.find(c => c.startIndex > loopVar.endIndex && c.type !== 'statement_block');
			return list ? values(list, env) : null;
		}
	}
	let root = n;
	while (root.parent)
		root = root.parent;
	const seen = new Set();
	for (const m of walk(root)) {
		if (m.type !== 'assignment_expression')
			continue;
		const left = m.namedChildren[0];
		if (varName(left) !== name)
			continue;
		const op = m.children.find(c => c.type === 'assignement_operator');
		const v = op && op.text === '=' ? values(m.childForFieldName('value'), {}) : null;
		if (!v)
			return null;
		seen.add(JSON.stringify(v));
	}
	return seen.size === 1 ? JSON.parse([...seen][0]) : null;
}

function functionsOf(root) {
	const out = {};
	for (const n of walk(root)) {
		if (n.type !== 'function_statement')
			continue;
		const name = n.children.find(c => c.type === 'function_name');
		if (name)
			out[lower(name.text)] = n;
	}
	return out;
}

// A function's parameters in order: {name, fallback: NODE or null}.
function paramsOf(fn) {
	const out = [];
	const decl = fn.children.find(c => c.type === 'function_parameter_declaration' || c.type === 'param_block');
	const list = decl ? [...walk(decl)].find(c => c.type === 'parameter_list') : null;
	for (const p of list ? list.namedChildren : []) {
		const v = p.type === 'variable' ? p : p.namedChildren.find(c => c.type === 'variable');
		if (!v)
			continue;
		const def = p.namedChildren.find(c => c.type === 'script_parameter_default');
		out.push({ name: varName(v), fallback: def ? def.namedChildren[0] : null });
	}
	return out;
}

// The arguments of a call to a script function, bound to its parameters.
function bind(fn, cmd, env) {
	const params = paramsOf(fn);
	const out = {};
	const pos = positional(cmd);
	params.forEach((p, i) => {
		const named = paramArg(cmd, `-${p.name}`);
		const node = named || pos[i] || p.fallback;
		if (node)
			out[p.name] = { node, env: named || pos[i] ? env : {} };
	});
	return out;
}

// The code that runs: every node of the script outside its function
// definitions, and a called function's body once per call (to a depth of
// 4) with that call's arguments bound in `env`. Yields {node, env}.
function* running(root, env = {}, depth = 0, fns = functionsOf(root)) {
	function* visit(n) {
		if (n.type === 'function_statement')
			return;
		yield { node: n, env };
		if (n.type === 'command' && fns[commandName(n)] && depth < 4) {
			const fn = fns[commandName(n)];
			const body = fn.namedChildren.find(c => c.type === 'script_block' || c.type === 'statement_list');
			if (body)
				yield* running(body, bind(fn, n, env), depth + 1, fns);
		}
		for (const c of n.children)
			yield* visit(c);
	}
	yield* visit(root);
}

// Member use: $var.Member or $var.Method(...) as {name, member, call}.
function memberUse(n) {
	if (n.type !== 'member_access' && n.type !== 'invokation_expression')
		return null;
	const v = n.namedChildren[0];
	const m = n.namedChildren.find(c => c.type === 'member_name');
	if (!v || !m || varName(v) === null)
		return null;
	return { name: varName(v), member: lower(m.text), call: n.type === 'invokation_expression' };
}

// A static call: [Type]::Method(...) as {type, method, args}.
function staticCall(n) {
	if (n.type !== 'invokation_expression')
		return null;
	const t = n.namedChildren[0];
	const m = n.namedChildren.find(c => c.type === 'member_name');
	const list = n.namedChildren.find(c => c.type === 'argument_list');
	if (!t || t.type !== 'type_literal' || !m)
		return null;
	const exprs = list ? [...walk(list)].find(c => c.type === 'argument_expression_list') : null;
	return {
		type: lower(t.text.replace(/^\[|\]$/g, '')),
		method: lower(m.text),
		args: exprs ? exprs.namedChildren.filter(c => c.type !== 'comment') : [],
	};
}

// The variable an assignment `$v = ...` that holds `n` on its right gives.
function assignedTo(n) {
	for (let a = n.parent; a; a = a.parent) {
		if (a.type === 'statement_list' || a.type === 'statement_block')
			return null;
		if (a.type === 'assignment_expression')
			return varName(a.namedChildren[0]);
	}
	return null;
}

module.exports = {
	load, walk, errorsOf, core, same, lower, at, ancestor, varName, commandName, elements,
	paramArg, hasParam, positional, values, prefix, functionsOf, running, memberUse, staticCall, assignedTo,
};
