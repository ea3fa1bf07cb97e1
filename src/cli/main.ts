import { HoneError } from '../errors.js';
import type { Io } from './command.js';
import { commands } from './registry.js';

const VERSION = '0.1.0';

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'hone — profile, then make ONNX models faster, smaller and cheaper',
    '',
    'Usage: hone <command> [options]      hone <command> --help for examples',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Global options: --debug (stack traces on errors), --version, --help',
  ].join('\n');
}

/** Runs the CLI; returns the exit code. Exported for end-to-end tests that run in-process. */
export async function main(argv: string[], io: Io): Promise<number> {
  const debug = argv.includes('--debug');
  const args = argv.filter((a) => a !== '--debug');
  const [name, ...rest] = args;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(usage() + '\n');
    return 0;
  }
  if (name === '--version') {
    io.stdout(VERSION + '\n');
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.stderr(`hone: unknown command '${name}'; run 'hone --help' to list commands\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(command.help.trimEnd() + '\n');
    return 0;
  }
  try {
    return (await command.run(rest, io)) ?? 0;
  } catch (e) {
    if (e instanceof HoneError) {
      io.stderr(`hone: ${e.message}\n`);
      if (debug) io.stderr(`${e.stack}\n${e.cause instanceof Error ? `cause: ${e.cause.stack}\n` : ''}`);
      return e.exitCode;
    }
    const err = e as Error;
    io.stderr(`hone: internal error: ${err?.message ?? String(e)}${debug ? '' : ' (run with --debug for details, and please report it)'}\n`);
    if (debug) io.stderr(`${err?.stack ?? ''}\n`);
    return 1;
  }
}
