// What main.js and post.js share: the runner's file commands.
'use strict';
const crypto = require('crypto');
const fs = require('fs');

// NAME<<DELIMITER, the value, DELIMITER: the form @actions/core writes, so
// no value (a newline in it included) can add a second name to the file.
function appendFileCommand(fileVar, name, value) {
	const file = process.env[fileVar];
	if (!file) return;
	const d = `ghadelimiter_${crypto.randomUUID()}`;
	fs.appendFileSync(file, `${name}<<${d}\n${value}\n${d}\n`);
}

module.exports = { appendFileCommand };
