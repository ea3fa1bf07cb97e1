import { createRequire } from 'node:module';
import { HoneError } from '../errors.js';
import type { Io } from './command.js';
import { commands } from './registry.js';

/** The installed package's version: package.json is two folders up from both src/cli/ and dist/cli/. */
const PACKAGE = createRequire(import.meta.url)('../../package.json') as { version: string; bugs?: string | { url?: string } };
const VERSION = PACKAGE.version;

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
    io.stdout(`${usage()}\n`);
    return 0;
  }
  if (name === '--version') {
    io.stdout(`${VERSION}\n`);
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.stderr(`hone: unknown command '${name}'; run 'hone --help' to list commands\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(`${command.help.trimEnd()}\n`);
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
    io.stderr(internalError(e, debug));
    return 1;
  }
}

/**
 * What Hone prints for an error that is not the user's (exit 1): a bug in Hone, so it says so and how to
 * report it; the stack with --debug.
 */
export function internalError(e: unknown, debug: boolean): string {
  const err = e as Error | undefined;
  const bugs = typeof PACKAGE.bugs === 'string' ? PACKAGE.bugs : PACKAGE.bugs?.url;
  const where = bugs ? ` at ${bugs}` : '';
  const how = debug
    ? `this is a bug in Hone ${VERSION}; please report it${where} with the command line and this output`
    : `this is a bug in Hone ${VERSION}; rerun with --debug for the stack trace and report it${where} with the command line`;
  return `hone: internal error: ${err?.message ?? String(e)}\nhone: ${how}\n${debug && err?.stack ? `${err.stack}\n` : ''}`;
}
