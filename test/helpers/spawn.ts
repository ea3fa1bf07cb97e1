/** Child processes for the tests: `hone` from source (src/cli/bin.ts through tsx), and other scripts through tsx. */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

const TSX = import.meta.resolve('tsx');

/** The CLI's entry point. */
export const HONE_BIN = fileURLToPath(new URL('../../src/cli/bin.ts', import.meta.url));

/** Node's arguments that run `hone` from source: `node ...HONE_NODE_ARGS ARGS…` is `hone ARGS…`. */
export const HONE_NODE_ARGS: readonly string[] = ['--import', TSX, HONE_BIN];

/** A started child: the process, its end, and its output so far. */
export interface Child {
  p: ChildProcessByStdio<null, Readable, Readable>;
  /** Resolves when it has exited and its pipes have closed. */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  out(): string;
  err(): string;
}

/** Starts `node ARGS…` with stdin ignored and stdout and stderr collected as they come. */
function startNode(args: readonly string[], opts: { detached?: boolean } = {}): Child {
  const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached ?? false });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d) => (stdout += d));
  p.stderr.on('data', (d) => (stderr += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    p.on('close', (code, signal) => resolve({ code, signal })),
  );
  return { p, exit, out: () => stdout, err: () => stderr };
}

/** Starts `hone ARGS…` as a child process, for tests that signal it or watch it while it runs. */
export function spawnHone(args: readonly string[], opts: { detached?: boolean } = {}): Child {
  return startNode([...HONE_NODE_ARGS, ...args], opts);
}

/** Runs `node --import tsx ARGS…` and collects its exit code and output. */
export async function runTsx(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const c = startNode(['--import', TSX, ...args]);
  const { code } = await c.exit;
  return { code, stdout: c.out(), stderr: c.err() };
}

/** Runs `hone ARGS…` as a child process (real pipes, unlike test/helpers/cli.ts) and collects its exit code and output. */
export function runHone(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runTsx([HONE_BIN, ...args]);
}
