// The action's main step: one job step's script in a fresh osrun session.
// Why this is JavaScript and what it enforces: action.yml. Every input is
// read from the environment the runner sets, checked here, and handed to
// osrun as one element of an argument vector: no shell on the runner host
// ever parses an input. The script itself (`run`) is data on the host: it
// is copied into the guest as a file and runs only there.
'use strict';
const { spawn } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const net = require('net');
const nodeOs = require('os');
const path = require('path');
const common = require('./common.js');

const OSRUN = process.env.OSRUN || 'osrun';

class Refused extends Error {}
function refuse(name, why) {
	throw new Refused(`input '${name}': ${why}`);
}
// Quoted and cut: an input shown in a message is shown as data.
function show(v) {
	return JSON.stringify(v.length > 100 ? v.slice(0, 100) + '...' : v);
}

// The runner sets INPUT_<NAME>: upper-cased, spaces as '_', hyphens kept
// (metadata syntax, "inputs"). Trimmed as @actions/core's getInput does,
// except the script, which is taken byte for byte.
function input(name, { trim = true } = {}) {
	const v = process.env['INPUT_' + name.replace(/ /g, '_').toUpperCase()] || '';
	return trim ? v.trim() : v;
}

// osrun's rule for snapshot, session and cache volume names
// (snapshot_name_check in snapshots/store.c).
const NAME_RE = /^[A-Za-z0-9_+@][A-Za-z0-9._+@-]{0,63}$/;

// Guest paths reach the guest's helpers (osrun-guest exec, copy,
// mount; on Windows cmd lines and osrun-copy.ps1). Only characters none
// of them reads as syntax: no quotes, $, `, ;, &, |, <, >, %, !, ^, *, ?,
// no control characters. Spaces and parentheses stay ("Program Files (x86)").
const PATH_RE = /^[A-Za-z0-9 /\\:._+@,()~=-]{1,1024}$/;
function guestPath(name, v, kind) {
	if (!PATH_RE.test(v))
		refuse(name, `${show(v)}: a guest path may only hold letters, digits, spaces and / \\ : . _ + @ , ( ) ~ = - (at most 1024)`);
	const abs = kind === 'windows' ? /^[A-Za-z]:[\\/]/.test(v) : v.startsWith('/');
	if (!abs)
		refuse(name, `${show(v)}: not an absolute ${kind === 'windows' ? 'Windows (C:\\...)' : 'Linux (/...)'} path`);
	return v;
}

// GitHub's own templates for these shells (workflow syntax, "shell"; the
// runner's ADR 0277), with the script at a fixed guest path: nothing of an
// input is in the command line.
const SHELLS = {
	sh: { os: 'linux', ext: 'sh', line: (f) => `sh -e ${f}` },
	bash: { os: 'linux', ext: 'sh', line: (f) => `bash --noprofile --norc -eo pipefail ${f}` },
	cmd: { os: 'windows', ext: 'cmd', line: (f) => `%ComSpec% /D /E:ON /V:OFF /S /C "CALL "${f}""` },
	pwsh: { os: 'windows', ext: 'ps1', line: (f) => `pwsh -command ". '${f}'"` },
	powershell: { os: 'windows', ext: 'ps1', line: (f) => `powershell -command ". '${f}'"` },
};
const SCRIPT_DIR = { linux: '/tmp/osrun-gh', windows: 'C:\\osrun-gh' };

// As GitHub writes a step's script: PowerShell stops at the first error
// and exits with the last native command's code; Windows files get CRLF,
// and a BOM for PowerShell (Windows PowerShell reads a file without one
// as the ANSI code page).
function scriptText(shell, run) {
	if (SHELLS[shell].os === 'linux') return Buffer.from(run);
	let t = run.replace(/\r?\n/g, '\r\n');
	if (shell === 'cmd') return Buffer.from(t);
	t = "$ErrorActionPreference = 'stop'\r\n" + t +
		'\r\nif ((Test-Path -LiteralPath variable:\\LASTEXITCODE)) { exit $LASTEXITCODE }\r\n';
	return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(t)]);
}

function bool(name, v) {
	// @actions/core's getBooleanInput: the YAML 1.2 core schema's words.
	if (['true', 'True', 'TRUE'].includes(v)) return true;
	if (['false', 'False', 'FALSE', ''].includes(v)) return false;
	refuse(name, `${show(v)}: expected true or false`);
}

// Names of the job's variables, not values: the values come from this
// process's environment (the job's and the step's env:) and go to the
// guest as -e NAME=VALUE, never through a log.
function envVars(v) {
	const names = [...new Set(v.split(/[\s,]+/).filter(Boolean))];
	if (names.length > 64) refuse('env-vars', `${names.length} names (at most 64)`);
	return names.map((n) => {
		if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(n)) refuse('env-vars', `${show(n)} is not a variable name`);
		if (/^OSRUN_/i.test(n)) refuse('env-vars', `${n}: names beginning with OSRUN_ are osrun's own`);
		if (!(n in process.env)) refuse('env-vars', `${n} is not set in the job's environment (map it with env:)`);
		if (Buffer.byteLength(process.env[n]) > 65536) refuse('env-vars', `${n}'s value is over 64 KiB`);
		return n;
	});
}

// Unique per runner, run, attempt, job and leg: matrix legs of one job
// share every GITHUB_* variable and a JavaScript action does not see the
// matrix, so the last part is random; post.js reads the name back from
// GITHUB_STATE instead of computing it again.
function sessionName() {
	const e = process.env, c = (s) => (s || 'x').replace(/[^A-Za-z0-9._+@-]/g, '_');
	const base = `gh-${c(e.RUNNER_NAME).slice(0, 24)}-${c(e.GITHUB_RUN_ID)}.${c(e.GITHUB_RUN_ATTEMPT)}-${c(e.GITHUB_JOB)}`;
	return `${base.slice(0, 55)}-${crypto.randomBytes(4).toString('hex')}`;
}

// One osrun call, its streams the step's (or stdout captured). SIGINT and
// SIGTERM (the runner cancelling the job) are passed on to it: an
// interrupted `osrun session exec` ends its command; post.js stops the rest.
let child = null, cancelled = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
	process.on(sig, () => {
		cancelled = true;
		console.log(`osrun action: ${sig}: passed on to osrun; the post step stops the session`);
		if (child) child.kill(sig);
		else process.exit(1);
	});
}
function osrun(args, { capture = false } = {}) {
	return new Promise((resolve) => {
		let out = '';
		child = spawn(OSRUN, args, { stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'] });
		if (capture) child.stdout.on('data', (d) => (out += d));
		child.on('error', (err) => {
			console.log(`::error::cannot run ${OSRUN}: ${err.message}`);
			child = null;
			resolve({ code: 127, out });
		});
		child.on('close', (code, signal) => {
			child = null;
			resolve({ code: code === null ? 128 + (nodeOs.constants.signals[signal] || 0) : code, out });
		});
	});
}

// A free port on the runner's loopback for debug-on-error's noVNC page
// (the kernel's pick; websockify binds it a moment later).
function freePort() {
	return new Promise((resolve, reject) => {
		const srv = net.createServer();
		srv.on('error', reject);
		srv.listen(0, '127.0.0.1', () => {
			const { port } = srv.address();
			srv.close(() => resolve(port));
		});
	});
}

async function main() {
	const e = process.env;
	const snapshot = input('snapshot') || 'provisioned';
	if (!NAME_RE.test(snapshot)) refuse('snapshot', `${show(snapshot)}: not a snapshot name (letters, digits, . _ - + @)`);
	const run = input('run', { trim: false });
	if (!run.trim()) refuse('run', 'empty: nothing to run');
	if (Buffer.byteLength(run) > 1 << 20) refuse('run', 'over 1 MiB');
	const network = input('network') || 'internet';
	if (!['none', 'internet', 'host'].includes(network)) refuse('network', `${show(network)}: expected none, internet or host`);
	const debug = bool('debug-on-error', input('debug-on-error'));
	const names = envVars(input('env-vars'));
	if (!e.GITHUB_WORKSPACE || !fs.statSync(e.GITHUB_WORKSPACE, { throwIfNoEntry: false })?.isDirectory())
		throw new Refused('GITHUB_WORKSPACE is not a directory: not run by a GitHub runner?');

	// The guest's kind decides the defaults and which shells make sense.
	const inspect = await osrun(['snapshot', 'inspect', '--json', snapshot], { capture: true });
	if (inspect.code !== 0) throw new Refused(`snapshot '${snapshot}': osrun snapshot inspect failed (exit ${inspect.code})`);
	let kind;
	try {
		kind = JSON.parse(inspect.out).machine?.profile;
	} catch {
		throw new Refused(`snapshot '${snapshot}': osrun snapshot inspect printed no JSON`);
	}
	if (kind !== 'linux' && kind !== 'windows') throw new Refused(`snapshot '${snapshot}': unknown guest profile ${show(String(kind))}`);
	const shell = input('shell') || (kind === 'windows' ? 'cmd' : 'sh');
	if (!Object.hasOwn(SHELLS, shell)) refuse('shell', `${show(shell)}: expected sh, bash, cmd, pwsh or powershell`);
	if (SHELLS[shell].os !== kind) refuse('shell', `${shell} is for ${SHELLS[shell].os} guests; snapshot '${snapshot}' is ${kind}`);
	const wd = guestPath('working-directory', input('working-directory') || (kind === 'windows' ? 'C:\\build' : '/build'), kind);
	const sep = kind === 'windows' ? '\\' : '/';
	const artifacts = input('artifacts').split('\n').map((s) => s.trim()).filter(Boolean);
	if (artifacts.length > 16) refuse('artifacts', `${artifacts.length} paths (at most 16)`);
	const outs = artifacts.map((a) => guestPath('artifacts', /^([A-Za-z]:)?[\\/]/.test(a) ? a : wd + sep + a, kind));
	const caches = input('cache-volume').split('\n').map((s) => s.trim()).filter(Boolean);
	if (caches.length > 8) refuse('cache-volume', `${caches.length} volumes (at most 8)`);
	for (const cv of caches) {
		const i = cv.indexOf(':');
		if (i < 0 || !NAME_RE.test(cv.slice(0, i))) refuse('cache-volume', `${show(cv)}: expected NAME:GUEST_PATH, NAME of letters, digits, . _ - + @`);
		guestPath('cache-volume', cv.slice(i + 1), kind);
	}

	// The script goes in as one file, private on the host.
	const tmp = fs.mkdtempSync(path.join(e.RUNNER_TEMP || nodeOs.tmpdir(), 'osrun-'));
	process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
	const file = path.join(tmp, 'step.' + SHELLS[shell].ext);
	fs.writeFileSync(file, scriptText(shell, run), { mode: 0o600 });
	const guestScript = SCRIPT_DIR[kind] + (kind === 'windows' ? '\\' : '/') + 'step.' + SHELLS[shell].ext;

	// Saved before it starts: a cancel during the start still has the
	// post step stop it.
	const name = sessionName();
	common.appendFileCommand('GITHUB_STATE', 'session', name);
	common.appendFileCommand('GITHUB_OUTPUT', 'session', name);
	console.log(`osrun action: session ${name} from snapshot '${snapshot}' (${kind}), network ${network}, shell ${shell}, in ${wd}`);

	const start = ['session', 'start', '-s', snapshot, '--name', name, '--network', network];
	for (const cv of caches) start.push('--cache-volume', cv);
	// The screen is served from the start (QEMU cannot add a VNC display
	// later), on loopback only; the URL is printed only if the script fails.
	if (debug) {
		const port = await freePort();
		start.push('--novnc', `127.0.0.1:${port}`);
		common.appendFileCommand('GITHUB_STATE', 'novnc', `http://127.0.0.1:${port}/vnc.html?autoconnect=1`);
	}
	let r = await osrun(start, { capture: true });
	if (r.code !== 0) throw new Refused(`osrun session start failed (exit ${r.code})`);
	for (const [src, dst, what] of [[e.GITHUB_WORKSPACE, wd, 'the checkout'], [file, guestScript, 'the script']]) {
		if (cancelled) return 1;
		if ((r = await osrun(['session', 'cp', name, src, 'guest:' + dst])).code !== 0)
			throw new Refused(`copying ${what} into the guest failed (exit ${r.code})`);
	}
	if (cancelled) return 1;

	const exec = ['session', 'exec', name, '-w', wd, '--no-stdin'];
	for (const n of names) exec.push('-e', `${n}=${e[n]}`);
	exec.push('--', SHELLS[shell].line(guestScript));
	console.log(`::group::${shell} script in the guest${names.length ? ' (with ' + names.join(', ') + ')' : ''}`);
	const status = (await osrun(exec)).code;
	console.log('::endgroup::');
	common.appendFileCommand('GITHUB_OUTPUT', 'exit-code', String(status));

	// Whatever the script's outcome, as the old action did; not after a
	// cancel (the session may be gone).
	let copyFailed = false;
	if (outs.length && !cancelled) {
		const dest = path.join(e.GITHUB_WORKSPACE, 'osrun-artifacts');
		fs.mkdirSync(dest, { recursive: true });
		for (const a of outs) {
			if ((r = await osrun(['session', 'cp', name, 'guest:' + a, dest])).code === 0) continue;
			console.log(`::warning::copying ${a} out of the guest failed (exit ${r.code})`);
			copyFailed = true;
		}
	}
	if (status !== 0 && debug && !cancelled) {
		common.appendFileCommand('GITHUB_STATE', 'keep', 'true');
		common.appendFileCommand('GITHUB_STATE', 'how', `-w '${wd}' ${kind === 'windows' ? 'cmd' : 'sh'}`);
	}
	if (status !== 0) {
		console.log(`::error::the script exited ${status}${cancelled ? ' (cancelled)' : ''}`);
		return 1;
	}
	if (copyFailed) {
		console.log('::error::the script passed but its artifacts were not all copied out');
		return 1;
	}
	return 0;
}

main().then(
	(code) => process.exit(code),
	(err) => {
		// A refusal is the caller's mistake, shown as such; anything else is
		// this action's, with its stack.
		console.log(`::error::${err instanceof Refused ? err.message : err.stack}`);
		process.exit(1);
	},
);
