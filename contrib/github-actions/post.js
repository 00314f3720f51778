// The action's post step: stops the session main.js started. The runner
// runs it with post-if's default, always(): after a failed main step and
// after a cancel (action.yml).
'use strict';
const { spawnSync } = require('child_process');

const OSRUN = process.env.OSRUN || 'osrun';
// main.js's GITHUB_STATE, which the runner gives back as STATE_<name>.
const name = process.env.STATE_session || '';

function sleep(ms) {
	Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function post() {
	if (!name) return 0; // main refused its inputs: nothing was started
	// Our own state, but it names what we are about to stop: checked as
	// main.js made it.
	if (!/^gh-[A-Za-z0-9._+@-]{1,61}$/.test(name)) {
		console.log(`::error::state 'session' is not a session name this action makes: ${JSON.stringify(name)}`);
		return 1;
	}
	if (process.env.STATE_keep === 'true') {
		console.log(`debug-on-error: the script failed; session ${name} is kept.\n` +
			'On the runner host, as the runner\'s user (same OSRUN_CACHE):\n' +
			`  osrun session exec ${name} ${process.env.STATE_how || ''}    # a shell on your terminal's stdin\n` +
			`  osrun session cp ${name} guest:PATH ./here\n` +
			`  osrun session stop ${name}\n` +
			'It stops by itself after 30 minutes without a request (--idle-timeout).');
		const url = process.env.STATE_novnc || '';
		// Our own state, as main.js wrote it.
		const m = /^http:\/\/127\.0\.0\.1:(\d{1,5})\/vnc\.html\?autoconnect=1$/.exec(url);
		if (m)
			console.log(`Its screen (noVNC, on the runner host's loopback only): ${url}\n` +
				`  from your machine: ssh -L ${m[1]}:127.0.0.1:${m[1]} RUNNER_HOST, then open that URL`);
		return 0;
	}
	// An exec that the runner killed while cancelling may still hold the
	// session for a moment: "busy" is retried, for up to 60 s.
	for (let i = 0; i < 30; i++) {
		const r = spawnSync(OSRUN, ['session', 'stop', name], { encoding: 'utf8' });
		const err = (r.stderr || '') + (r.error ? r.error.message : '');
		if (r.status === 0) {
			console.log(`osrun action: session ${name} stopped`);
			return 0;
		}
		if (/not running/.test(err)) {
			console.log(`osrun action: session ${name} had already ended`);
			return 0;
		}
		if (!/busy/.test(err)) {
			process.stdout.write(err);
			console.log(`::error::osrun session stop ${name} failed (exit ${r.status})`);
			return 1;
		}
		sleep(2000);
	}
	console.log(`::error::session ${name} stayed busy for 60 s; it ends by itself after its idle timeout`);
	return 1;
}

process.exit(post());
