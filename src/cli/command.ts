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
  run(argv: string[], io: Io): Promise<number | void>;
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
    if (a === '--') { out.push(...argv.slice(i)); break; }
    if (next !== undefined && /^-(\d|\.\d)/.test(next) && takesValue(a)) { out.push(a.startsWith('--') ? `${a}=${next}` : `${a}${next}`); i++; continue; }
    out.push(a);
  }
  return out;
}

/** Parses a number flag; `what` names the flag in the error. */
export function numberFlag(value: string | undefined, what: string, opts: { int?: boolean; min?: number } = {}): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || (opts.int && !Number.isInteger(n)) || (opts.min !== undefined && n < opts.min)) {
    const kind = opts.int ? 'an integer' : 'a number';
    throw badInput(`${what} must be ${kind}${opts.min !== undefined ? ` >= ${opts.min}` : ''}, got '${value}'`);
  }
  return n;
}
