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

(async () => {
	await Parser.init();
	const grammar = await Language.load(require.resolve('tree-sitter-powershell/tree-sitter-powershell.wasm'));
	const parser = new Parser();
	parser.setLanguage(grammar);
	let bad = 0;
	for (const file of process.argv.slice(2)) {
		const tree = parser.parse(fs.readFileSync(file, 'utf8'));
		for (const n of errorsOf(tree.rootNode, [])) {
			const what = n.isMissing ? `missing ${n.type}` : 'syntax error';
			const at = `${n.startPosition.row + 1}:${n.startPosition.column + 1}`;
			console.log(`${file}:${at}: ${what} near '${n.text.slice(0, 50).replace(/\s+/g, ' ')}'`);
			bad++;
		}
	}
	process.exit(bad ? 1 : 0);
})().catch(e => {
	console.error(`check.cjs: ${e.message}`);
	process.exit(2);
});
