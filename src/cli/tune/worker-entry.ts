// Process entry of a `hone tune` worker (see worker-process.ts): the tuner only, so it starts fast.
import { HoneError } from '../../errors.js';
import { tuneWorkerMain } from './worker-process.js';

tuneWorkerMain(process.argv.slice(2), {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  isTTY: false,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`hone: ${e instanceof HoneError ? '' : 'internal error: '}${(e as Error)?.message ?? String(e)}\n`);
    process.exitCode = e instanceof HoneError ? e.exitCode : 1;
  },
);
