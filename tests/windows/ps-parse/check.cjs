// Parses PowerShell scripts with tree-sitter-powershell's WebAssembly
// grammar and prints FILE:LINE:COL for every syntax error and lint finding;
// exits 1 if any. Nobody here can run PowerShell, so this is what stands
// between a typo in guest-init/windows/*.ps1 and a Windows install that
// stops at first logon. The grammar rejects some valid forms: bare words in
// a comma list (`Remove-Item Env:A, Env:B`); the scripts quote those
// ('Env:A', 'Env:B').
//   node check.cjs [--continue NAME,...] FILE...
// Every script sets $ErrorActionPreference = 'Stop' first; the scripts named
// with --continue (file names) set 'Continue' instead.
'use strict';
const path = require('path');
const ps = require('./ps.cjs');

// Start-Process -PassThru: Windows PowerShell gives a $null ExitCode unless
// the process object's .Handle was read while the process ran (PowerShell
// issues #5421, #20400). The variable that holds the result must have
// .Handle read after the Start-Process and before WaitForExit, ExitCode or
// HasExited is used on it.
function handleRule(file, root, cmd, out) {
	const v = ps.assignedTo(cmd);
	if (!v) {
		out.push(`${ps.at(file, cmd)}: lint: Start-Process -PassThru whose result is not kept: its .Handle cannot be read, ExitCode would be $null`);
		return;
	}
	const scope = ps.ancestor(cmd, ['function_statement', 'script_block_expression']) || root;
	const from = ps.ancestor(cmd, ['assignment_expression']).endIndex;
	const uses = [];
	for (const n of ps.walk(scope)) {
		const u = n.startIndex >= from && ps.memberUse(n);
		if (u && u.name === v)
			uses.push({ ...u, node: n });
	}
	const end = uses.find(u => ['waitforexit', 'exitcode', 'hasexited'].includes(u.member));
	const handle = uses.find(u => u.member === 'handle' && !u.call && (!end || u.node.startIndex < end.node.startIndex));
	if (!handle)
		out.push(`${ps.at(file, cmd)}: lint: Start-Process -PassThru without reading $${v}.Handle before ${end ? `$${v}.${end.node.namedChildren.find(c => c.type === 'member_name').text}${end.call ? '()' : ''}` : 'waiting for it'}: ExitCode would be $null`);
}

// New-Item -Force on a registry key or file that exists deletes what it
// holds (PowerShell's RegistryProvider.cs NewItem): only a directory, or
// inside an `if` that tests the path first.
function newItemRule(file, cmd, out) {
	const type = ps.paramArg(cmd, '-itemtype');
	const tv = type && ps.values(type);
	if (!ps.hasParam(cmd, '-force') || (tv && tv.length === 1 && ps.lower(tv[0]) === 'directory'))
		return;
	for (let a = cmd.parent; a; a = a.parent) {
		if (a.type !== 'if_statement')
			continue;
		const cond = a.namedChildren.find(c => c.type !== 'comment');
		if ([...ps.walk(cond)].some(c => c.type === 'command' && ps.commandName(c) === 'test-path'))
			return;
	}
	out.push(`${ps.at(file, cmd)}: lint: New-Item -Force on a key or file that exists deletes what it holds: test with Test-Path first`);
}

// $ErrorActionPreference, set at script scope before any command runs, to
// the value this script is meant to have; nothing at script scope changes it.
function preferenceRule(file, root, want, out) {
	const sets = [];
	for (const n of ps.walk(root)) {
		if (n.type === 'assignment_expression' && ps.varName(n.namedChildren[0]) === 'erroractionpreference' &&
		    !ps.ancestor(n, ['function_statement', 'script_block_expression']))
			sets.push(n);
	}
	const top = sets.find(n => {
		const list = ps.ancestor(n, ['statement_list', 'statement_block']);
		return list && list.parent && list.parent.type === 'program';
	});
	if (!top) {
		out.push(`${file}:1:1: lint: the script never sets $ErrorActionPreference at its top level (a failing cmdlet would not stop it)`);
		return;
	}
	for (const { node } of ps.running(root)) {
		if (node.type === 'command' && node.startIndex < top.startIndex) {
			out.push(`${ps.at(file, node)}: lint: a command runs before $ErrorActionPreference is set`);
			break;
		}
	}
	for (const n of sets) {
		const v = ps.values(n.childForFieldName('value'));
		if (!v || v.length !== 1 || ps.lower(v[0]) !== ps.lower(want))
			out.push(`${ps.at(file, n)}: lint: $ErrorActionPreference = ${n.childForFieldName('value').text.trim()}: this script's is '${want}'` +
				(want === 'Stop' ? ' (a failing cmdlet must stop it)' : ' (listed with --continue)'));
	}
}

function lint(file, tree, continueNames) {
	const out = [];
	const root = tree.rootNode;
	for (const n of ps.walk(root)) {
		if (n.type !== 'command')
			continue;
		const cmd = ps.commandName(n);
		if (cmd === 'new-item')
			newItemRule(file, n, out);
		if (cmd === 'start-process' && ps.hasParam(n, '-passthru'))
			handleRule(file, root, n, out);
	}
	preferenceRule(file, root, continueNames.includes(path.basename(file)) ? 'Continue' : 'Stop', out);
	return out;
}

(async () => {
	const parse = await ps.load();
	const args = process.argv.slice(2);
	let continueNames = [];
	if (args[0] === '--continue') {
		continueNames = args[1].split(',');
		args.splice(0, 2);
	}
	let bad = 0;
	for (const file of args) {
		const { tree } = parse(file);
		for (const n of ps.errorsOf(tree.rootNode)) {
			const what = n.isMissing ? `missing ${n.type}` : 'syntax error';
			console.log(`${ps.at(file, n)}: ${what} near '${n.text.slice(0, 50).replace(/\s+/g, ' ')}'`);
			bad++;
		}
		for (const line of lint(file, tree, continueNames)) {
			console.log(line);
			bad++;
		}
	}
	process.exit(bad ? 1 : 0);
})().catch(e => {
	console.error(`check.cjs: ${e.message}`);
	process.exit(2);
});
