import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: boolean; strict: true }>>;
import { badInput } from '../errors.js';

/** Where a command writes. Tests pass buffers; the CLI passes the process streams. */
export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** True when stdout is a terminal: tables and progress only then. */
  isTTY: boolean;
}

export interface Command {
  name: string;
  /** One line for `hone --help`. */
  summary: string;
  /** Full `--help` text, with at least one working example. */
  help: string;
  run(argv: string[], io: Io): Promise<number | undefined>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * parseArgs with Hone's error style: an unknown flag or a missing value becomes a one-line HoneError
 * that names the flag and points at `--help`.
 */
export function parseFlags<O extends Options>(command: string, argv: string[], options: O, allowPositionals = true): Parsed<O> {
  try {
    return parseArgs({ args: joinNegativeValues(argv, options), options, allowPositionals, strict: true });
  } catch (e) {
    const msg = (e as Error).message.replace(/\. To specify a positional argument.*$/s, '').replace(/\s*\n\s*/g, ' ');
    throw badInput(`${command}: ${msg}; see 'hone ${command} --help'`);
  }
}

/**
 * `--lr -1` as `--lr=-1`: Node's parser takes a value starting with '-' for an option, so a negative number
 * after a value-taking flag would be an "ambiguous" error instead of reaching the flag's own range check.
 */
function joinNegativeValues(argv: readonly string[], options: Options): string[] {
  const takesValue = (arg: string) => {
    const long = /^--([^=]+)$/.exec(arg)?.[1];
    if (long) return options[long]?.type === 'string';
    const short = /^-(\w)$/.exec(arg)?.[1];
    return short !== undefined && Object.values(options).some((o) => o.short === short && o.type === 'string');
  };
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (next !== undefined && /^-(\d|\.\d)/.test(next) && takesValue(a)) {
      out.push(a.startsWith('--') ? `${a}=${next}` : `${a}${next}`);
      i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

/** Parses a number flag; `what` names the flag in the error. */
/** `value` when it is one of `allowed`, else a bad-input error naming the flag and the choices. */
export function oneOf<T extends string>(value: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(value)) throw badInput(`${flag} must be one of ${allowed.join(', ')}, got '${value}'`);
  return value as T;
}

/** --qat-ranges (hone train --qat, hone quantize --qat): activation ranges fixed (default) or learned. */
export function qatRanges(value: string | undefined): 'fixed' | 'learned' | undefined {
  return value === undefined ? undefined : oneOf(value, ['fixed', 'learned'] as const, '--qat-ranges');
}

export function numberFlag(value: string | undefined, what: string, opts: { int?: boolean; min?: number } = {}): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || (opts.int && !Number.isInteger(n)) || (opts.min !== undefined && n < opts.min)) {
    const kind = opts.int ? 'an integer' : 'a number';
    throw badInput(`${what} must be ${kind}${opts.min !== undefined ? ` >= ${opts.min}` : ''}, got '${value}'`);
  }
  return n;
}

/** True when `a` and `b` name the same file (by resolved path, or by inode where both exist: links, ./x vs x). */
export function sameFile(a: string, b: string): boolean {
  if (resolve(a) === resolve(b)) return true;
  if (!existsSync(a) || !existsSync(b)) return false;
  const sa = statSync(a);
  const sb = statSync(b);
  return sa.ino === sb.ino && sa.dev === sb.dev;
}

/** Fails before any work when `path` cannot be written (missing folder, no permission, a folder). */
export function checkWritable(path: string): void {
  const dir = dirname(resolve(path));
  if (!existsSync(dir)) throw badInput(`cannot write ${path}: its folder does not exist; create it or choose another path`);
  if (existsSync(path) && statSync(path).isDirectory()) throw badInput(`cannot write ${path}: it is a folder; give a file name`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw badInput(`cannot write ${path}: permission denied; choose a writable output path`);
  }
}

/** `--quiet`, on every command that runs long. */
export const quietFlag = { quiet: { type: 'boolean' } } as const;

/** `--quiet`'s line in a --help text, its description starting at column `col` as the other flags' do. */
export function quietHelp(col: number): string {
  const pad = ' '.repeat(col);
  return `${'  --quiet'.padEnd(col)}no progress lines on stderr (by default plain lines, the same on a terminal
${pad}and in a pipe, so \`2>&1 | tee log\` shows them as they come; --json does not
${pad}silence them: they go to stderr, and stdout stays one JSON object)`;
}

/**
 * Progress of a long command: plain lines on stderr, never carriage returns, whether or not a terminal
 * reads them (piped output must show progress as it happens); none with `--quiet`.
 */
export function progressLines(io: Io, quiet: boolean | undefined): ((message: string) => void) | undefined {
  return quiet ? undefined : (message) => io.stderr(`… ${message}\n`);
}

/** `w` quoted for a POSIX shell when it needs it (commands Hone prints for the user to run). */
export function shellWord(w: string): string {
  return /^[\w./:=,+@%-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}
