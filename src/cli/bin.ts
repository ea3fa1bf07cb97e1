#!/usr/bin/env node
import { internalError, main } from './main.js';

const debug = process.argv.includes('--debug');
main(process.argv.slice(2), {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  isTTY: Boolean(process.stdout.isTTY),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(internalError(e, debug));
    process.exitCode = 1;
  },
);
