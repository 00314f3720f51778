// What the README says guest-init/windows/*.ps1 do, checked on the syntax
// tree: commands, method calls, strings and assignments in code that runs
// (the script, and the functions it calls with their arguments put in).
// A comment that names the thing never satisfies a claim.
//   node claims.cjs CLAIM FILE
// Exit 0: FILE does what CLAIM says; 1: it does not (each missing part on
// stdout); 2: FILE does not parse, or no such claim.
'use strict';
const ps = require('./ps.cjs');

const lower = ps.lower;
const has = (vals, want) => !!vals && vals.some(v => lower(v) === lower(want));

// The statement of a list (statement_list, statement_block) that holds n.
function statementOf(n) {
	while (n.parent && n.parent.type !== 'statement_list')
		n = n.parent;
	return n;
}

function nextStatement(n) {
	let s = statementOf(n).nextNamedSibling;
	while (s && (s.type === 'comment' || s.type === 'empty_statement'))
		s = s.nextNamedSibling;
	return s;
}

const commands = (run, ...names) => run.filter(({ node }) => node.type === 'command' && names.includes(ps.commandName(node)));

// The one path argument of a cmdlet (-LiteralPath, -Path or the first).
function pathOf(cmd, env, switches = []) {
	const n = ps.paramArg(cmd, '-literalpath', '-path') || ps.positional(cmd, switches)[0];
	return n ? ps.values(n, env) : null;
}

// Registry values the code writes: Set-ItemProperty and New-ItemProperty,
// also through a script function that passes its arguments on.
function registryWrites(run) {
	const out = [];
	const sw = ['-force', '-passthru', '-whatif', '-confirm'];
	for (const { node, env } of commands(run, 'set-itemproperty', 'new-itemproperty')) {
		const pos = ps.positional(node, sw);
		const val = (param, i) => {
			const n = ps.paramArg(node, param) || pos[i];
			return n ? ps.values(n, env) : null;
		};
		const [keys, names, vals] = [pathOf(node, env, sw), val('-name', 1), val('-value', 2)];
		for (const key of keys || [])
			for (const name of names || [])
				for (const value of vals || [])
					out.push({ key: lower(key), name: lower(name), value, node });
	}
	return out;
}

function registryClaim(run, key, names, value) {
	const writes = registryWrites(run);
	return names.filter(n => !writes.some(w => w.key === lower(key) && w.name === lower(n) && w.value === value))
		.map(n => `no code sets ${key}\\${n} to ${value}`);
}

// `if (SUBJECT -ne A -and SUBJECT -ne B ...) { throw ... }`: anything but
// the listed codes throws or exits.
function failsUnless(ifNode, subject, codes) {
	if (!ifNode || ifNode.type !== 'if_statement' || ifNode.namedChildren.some(c => c.type === 'else_clause' || c.type === 'elseif_clauses'))
		return false;
	const cond = ifNode.childForFieldName('condition');
	const all = [...ps.walk(cond)];
	const cmps = all.filter(c => c.type === 'comparison_expression' && c.namedChildren.some(k => k.type === 'comparison_operator'));
	const seen = [];
	for (const c of cmps) {
		const [left, op, right] = c.namedChildren;
		const v = ps.values(right);
		if (lower(ps.core(left).text) !== lower(subject) || lower(op.text) !== '-ne' || !v || v.length !== 1)
			return false;
		seen.push(v[0]);
	}
	if (all.some(c => ['-or', '-xor', '-not', '!'].includes(lower(c.text)) && c.childCount === 0))
		return false;
	if (seen.sort().join() !== codes.map(String).sort().join())
		return false;
	const block = ifNode.namedChildren.find(c => c.type === 'statement_block');
	return [...ps.walk(block)].some(c => c.type === 'flow_control_statement' &&
		(/^throw\b/i.test(c.text) || (/^exit\b/i.test(c.text) && !/^exit\s+0\s*$/i.test(c.text))));
}

// The whole pipeline n is in, also from inside a script block in it.
function outerPipeline(n) {
	let p = ps.ancestor(n, ['pipeline']);
	for (let q = p; q; q = ps.ancestor(q, ['pipeline']))
		p = q;
	return p;
}

function pnputilAdd(run) {
	return commands(run, 'pnputil.exe', 'pnputil').find(({ node, env }) =>
		ps.positional(node).some(a => has(ps.values(a, env), '/add-driver')));
}

const claims = {
	'smb-caches-off': run => registryClaim(run, 'HKLM:\\SYSTEM\\CurrentControlSet\\Services\\LanmanWorkstation\\Parameters',
		['FileInfoCacheLifetime', 'FileNotFoundCacheLifetime', 'DirectoryCacheLifetime'], '0'),
	'utf8-codepage': run => registryClaim(run, 'HKLM:\\SYSTEM\\CurrentControlSet\\Control\\Nls\\CodePage',
		['ACP', 'OEMCP', 'MACCP'], '65001'),
	'defender-exclusion'(run) {
		const ok = commands(run, 'add-mppreference').some(({ node, env }) => {
			const p = ps.paramArg(node, '-exclusionpath');
			return p && has(ps.values(p, env), 'C:\\');
		});
		return ok ? [] : ['no Add-MpPreference -ExclusionPath C:\\ in code that runs'];
	},
	'msi-3010'(run) {
		const sw = ['-passthru', '-wait', '-nonewwindow'];
		const msi = commands(run, 'start-process').filter(({ node, env }) => {
			const f = ps.paramArg(node, '-filepath') || ps.positional(node, sw)[0];
			const v = f && ps.values(f, env);
			return ps.hasParam(node, '-passthru') && v && v.some(x => /(^|\\)msiexec(\.exe)?$/i.test(x));
		});
		if (!msi.length)
			return ['no Start-Process msiexec.exe -PassThru in code that runs'];
		const ok = msi.some(({ node }) => {
			const v = ps.assignedTo(node);
			return v && run.some(r => r.node.startIndex > node.startIndex && failsUnless(r.node, `$${v}.ExitCode`, [0, 3010]));
		});
		return ok ? [] : ["the MSI's exit code: no `if (ExitCode -ne 0 -and ExitCode -ne 3010) { throw }` after it"];
	},
	// 0, 259 (Setup bound the drivers already) and 3010 pass; then every
	// virtio device is checked for a working driver, or the stage throws.
	'pnputil-codes'(run) {
		const p = pnputilAdd(run);
		if (!p)
			return ['no pnputil /add-driver in code that runs'];
		const out = [];
		const test = nextStatement(p.node);
		if (!failsUnless(test, '$LASTEXITCODE', [0, 259, 3010]))
			out.push('the statement after pnputil /add-driver is not `if ($LASTEXITCODE -ne 0 -and ... -ne 259 -and ... -ne 3010) { throw }`');
		const after = run.filter(r => r.node.startIndex > p.node.startIndex);
		const query = commands(after, 'get-ciminstance', 'get-wmiobject').find(({ node, env }) => {
			const c = ps.paramArg(node, '-classname', '-class') || ps.positional(node)[0];
			return c && has(ps.values(c, env), 'Win32_PnPEntity');
		});
		if (!query)
			out.push('no Get-CimInstance Win32_PnPEntity after pnputil');
		else {
			const pipe = ps.ancestor(query.node, ['pipeline']);
			const v = ps.assignedTo(query.node);
			const uses = pipe && /ConfigManagerErrorCode/i.test(pipe.text) && /VEN_1AF4/i.test(run.map(r => r.node.type === 'verbatim_string_characters' ? r.node.text : '').join(' '));
			const thrown = v && after.some(r => r.node.type === 'if_statement' && r.node.text.toLowerCase().includes(`$${v}`) &&
				[...ps.walk(r.node)].some(c => c.type === 'flow_control_statement' && /^throw\b/i.test(c.text)));
			if (!uses || !thrown)
				out.push("the virtio devices' ConfigManagerErrorCode is not checked, with a throw, after pnputil");
		}
		return out;
	},
	'password-never-expires'(run) {
		const ok = commands(run, 'set-localuser').some(({ node, env }) => {
			const a = ps.paramArg(node, '-passwordneverexpires');
			const v = a && ps.values(a, env);
			return v && v.some(x => ['$true', 'true', '1'].includes(lower(x)));
		});
		return ok ? [] : ['no Set-LocalUser -PasswordNeverExpires $true in code that runs'];
	},
	// Status lines to COM1 with osrun's prefix (runner/lib/status.h).
	'status-to-com1'(run) {
		const ports = commands(run, 'new-object').filter(({ node, env }) => {
			const [type, ...rest] = ps.positional(node);
			const t = type && ps.values(type, env);
			return t && /(^|\.)serialport$/i.test(t[0]) && rest.some(a => has(ps.values(a, env), 'COM1'));
		});
		const writes = run.filter(({ node }) => {
			const u = ps.memberUse(node);
			return u && u.call && (u.member === 'writeline' || u.member === 'write') &&
				/"osrun-status: /.test(node.text);
		});
		const out = [];
		if (!ports.length)
			out.push("no SerialPort on COM1 opened in code that runs");
		if (!writes.length)
			out.push('no WriteLine("osrun-status: ...") in code that runs');
		return out;
	},
	// Tasks a restore's clock jump would fire: those with a next run time
	// and those with an idle trigger, disabled.
	'timed-tasks-off'(run) {
		const pipes = commands(run, 'disable-scheduledtask').map(({ node }) => outerPipeline(node)).filter(Boolean)
			.map(p => p.text);
		const out = [];
		if (!pipes.some(t => /Get-ScheduledTaskInfo/i.test(t) && /NextRunTime/i.test(t)))
			out.push('no Get-ScheduledTask | Get-ScheduledTaskInfo | (NextRunTime) ... Disable-ScheduledTask in code that runs');
		if (!pipes.some(t => /Triggers/i.test(t) && /Idle/i.test(t)))
			out.push('no Get-ScheduledTask | (idle triggers) | Disable-ScheduledTask in code that runs');
		return out;
	},
	'time-sync-off'(run) {
		const out = [];
		const w32tm = commands(run, 'w32tm.exe', 'w32tm').some(({ node, env }) => {
			const a = ps.positional(node).map(x => ps.values(x, env) || []);
			return a.some(v => has(v, '/config')) && a.some(v => has(v, '/syncfromflags:NO'));
		});
		if (!w32tm)
			out.push('no w32tm /config /syncfromflags:NO in code that runs');
		const svc = commands(run, 'set-service').some(({ node, env }) => {
			const n = ps.paramArg(node, '-name') || ps.positional(node)[0];
			const t = ps.paramArg(node, '-startuptype');
			return n && t && has(ps.values(n, env), 'W32Time') && has(ps.values(t, env), 'Disabled');
		});
		if (!svc)
			out.push('no Set-Service W32Time -StartupType Disabled in code that runs');
		return out;
	},
	// Each catalog's signer into LocalMachine's TrustedPublisher store,
	// before pnputil installs the drivers.
	'trusted-before-pnputil'(run) {
		const p = pnputilAdd(run);
		if (!p)
			return ['no pnputil /add-driver in code that runs'];
		const before = run.filter(r => r.node.startIndex < p.node.startIndex);
		const certutil = commands(before, 'certutil.exe', 'certutil').some(({ node, env }) => {
			const a = ps.positional(node).map(x => ps.values(x, env));
			return a.some(v => has(v, '-addstore')) && a.some(v => has(v, 'TrustedPublisher'));
		});
		if (certutil)
			return [];
		const stores = commands(before, 'new-object').filter(({ node, env }) => {
			const [type, ...rest] = ps.positional(node);
			const t = type && ps.values(type, env);
			const args = (ps.paramArg(node, '-argumentlist') ? [ps.paramArg(node, '-argumentlist')] : rest).flatMap(a => ps.values(a, env) || []);
			return t && /(^|\.)x509store$/i.test(t[0]) && has(args, 'TrustedPublisher') && has(args, 'LocalMachine');
		}).map(({ node }) => ps.assignedTo(node)).filter(Boolean);
		if (!stores.length)
			return ['no X509Store TrustedPublisher, LocalMachine opened before pnputil'];
		const calls = (name, member) => before.filter(({ node }) => {
			const u = ps.memberUse(node);
			return u && u.call && u.name === name && u.member === member;
		});
		const ok = stores.some(s => calls(s, 'open').some(o => calls(s, 'add').some(a => a.node.startIndex > o.node.startIndex)));
		return ok ? [] : ['the TrustedPublisher store is not opened and added to before pnputil /add-driver'];
	},
	// A LanmanWorkstation restart that fails does not end the build: it is
	// alone in a try whose catch neither throws, exits nor says failed.
	'lanman-restart-tolerated'(run) {
		const restarts = commands(run, 'restart-service').filter(({ node, env }) => {
			const n = ps.paramArg(node, '-name') || ps.positional(node, ['-force', '-passthru'])[0];
			return n && has(ps.values(n, env), 'LanmanWorkstation');
		});
		if (!restarts.length)
			return ['no Restart-Service LanmanWorkstation in code that runs'];
		const ok = restarts.every(({ node, env }) => {
			const ea = ps.paramArg(node, '-erroraction');
			if (ea && ['silentlycontinue', 'ignore'].some(x => has(ps.values(ea, env), x)))
				return true;
			const t = ps.ancestor(node, ['try_statement']);
			const body = t && t.namedChildren[0];
			const list = body && body.namedChildren.find(c => c.type === 'statement_list');
			if (!list || list.namedChildren.filter(c => c.type !== 'comment').length !== 1 || !ps.same(statementOf(node), list.namedChildren.find(c => c.type !== 'comment')))
				return false;
			const catches = [...ps.walk(t)].filter(c => c.type === 'catch_clause' && ps.same(ps.ancestor(c, ['try_statement']), t));
			return catches.some(c => !c.namedChildren.some(k => k.type === 'catch_type_list') &&
				![...ps.walk(c)].some(k => (k.type === 'flow_control_statement' && /^(throw|exit|return|break)\b/i.test(k.text)) ||
					(k.type === 'expandable_string_literal' || k.type === 'verbatim_string_characters') && /^["']failed/i.test(k.text)));
		});
		return ok ? [] : ['a failing Restart-Service LanmanWorkstation is not caught alone by a catch that lets the build go on'];
	},
};

(async () => {
	const [name, file] = process.argv.slice(2);
	if (!claims[name] || !file) {
		console.error(`usage: node claims.cjs CLAIM FILE; claims: ${Object.keys(claims).join(' ')}`);
		process.exit(2);
	}
	const parse = await ps.load();
	const { tree } = parse(file);
	const errors = ps.errorsOf(tree.rootNode);
	if (errors.length) {
		console.log(`${ps.at(file, errors[0])}: syntax error: cannot check ${name}`);
		process.exit(2);
	}
	const missing = claims[name]([...ps.running(tree.rootNode)]);
	for (const m of missing)
		console.log(`${file}: ${name}: ${m}`);
	process.exit(missing.length ? 1 : 0);
})().catch(e => {
	console.error(`claims.cjs: ${e.stack}`);
	process.exit(2);
});
