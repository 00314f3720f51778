// Parses PowerShell scripts with tree-sitter-powershell's WebAssembly
// grammar and prints FILE:LINE:COL for every syntax error; exits 1 if any.
// Nobody here can run PowerShell, so this is what stands between a typo in
// guest-init/windows/*.ps1 and a Windows install that stops at first logon.
// The grammar rejects some valid forms: bare words in a comma list
// (`Remove-Item Env:A, Env:B`); the scripts quote those ('Env:A', 'Env:B').
//   node check.cjs FILE...
'use strict';
const fs = require('fs');
const { Parser, Language } = require('web-tree-sitter');

function errorsOf(node, out) {
	if (node.type === 'ERROR' || node.isMissing) {
		out.push(node);
		return out;
	}
	if (node.hasError)
		for (const child of node.children)
			errorsOf(child, out);
	return out;
}

function* walk(node) {
	yield node;
	for (const child of node.children)
		yield* walk(child);
}

// The traps above, as FILE:LINE messages.
function lint(file, tree, text) {
	const out = [];
	const at = n => `${file}:${n.startPosition.row + 1}:${n.startPosition.column + 1}`;
	let setsPreference = false;
	for (const n of walk(tree.rootNode)) {
		if (n.type === 'assignment_expression') {
			const left = n.children.find(c => c.type === 'left_assignment_expression');
			if (left && left.text.trim().toLowerCase() === '$erroractionpreference')
				setsPreference = true;
		}
		if (n.type !== 'command')
			continue;
		const name = n.children.find(c => c.type === 'command_name');
		const cmd = name ? name.text.toLowerCase() : '';
		const params = [...walk(n)].filter(c => c.type === 'command_parameter').map(c => c.text.toLowerCase());
		if (cmd === 'new-item' && params.includes('-force') && !/-ItemType\s+Directory\b/i.test(n.text)) {
			let guarded = false;
			for (let a = n.parent; a && !guarded; a = a.parent)
				guarded = a.type === 'if_statement' && /Test-Path/i.test(a.text.split('{')[0]);
			if (!guarded)
				out.push(`${at(n)}: lint: New-Item -Force on a key or file that exists deletes what it holds: test with Test-Path first`);
		}
		if (cmd !== 'start-process' || !params.includes('-passthru'))
			continue;
		let a = n.parent;
		while (a && a.type !== 'assignment_expression')
			a = a.parent;
		const left = a && a.children.find(c => c.type === 'left_assignment_expression');
		const v = left ? left.text.trim() : null;
		const escaped = v ? v.replace(/[$]/g, '\\$') : '';
		if (!v || !new RegExp(`${escaped}\\.Handle\\b`, 'i').test(text))
			out.push(`${at(n)}: lint: Start-Process -PassThru without reading ${v || 'its result'}.Handle: ExitCode would be $null`);
	}
	if (!setsPreference)
		out.push(`${file}:1:1: lint: the script never sets $ErrorActionPreference (a failing cmdlet would not stop it)`);
	return out;
}

(async () => {
	await Parser.init();
	const grammar = await Language.load(require.resolve('tree-sitter-powershell/tree-sitter-powershell.wasm'));
	const parser = new Parser();
	parser.setLanguage(grammar);
	let bad = 0;
	for (const file of process.argv.slice(2)) {
		const text = fs.readFileSync(file, 'utf8');
		const tree = parser.parse(text);
		for (const n of errorsOf(tree.rootNode, [])) {
			const what = n.isMissing ? `missing ${n.type}` : 'syntax error';
			const at = `${n.startPosition.row + 1}:${n.startPosition.column + 1}`;
			console.log(`${file}:${at}: ${what} near '${n.text.slice(0, 50).replace(/\s+/g, ' ')}'`);
			bad++;
		}
		for (const line of lint(file, tree, text)) {
			console.log(line);
			bad++;
		}
	}
	process.exit(bad ? 1 : 0);
})().catch(e => {
	console.error(`check.cjs: ${e.message}`);
	process.exit(2);
});
