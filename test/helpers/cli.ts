/** Runs the `hone` CLI in-process (main() with buffers for streams) and collects its exit code and output. */
import { main } from '../../src/cli/main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `hone ARGV…` with stdout not a terminal, as when piped. */
export function hone(...argv: string[]): Promise<CliResult> {
  return honeIo(false, ...argv);
}

/** `hone ARGV…` as one array (for argument lists built in the test). */
export function honeArgs(argv: string[]): Promise<CliResult> {
  return honeIo(false, ...argv);
}

/** `hone ARGV…` with stdout a terminal (isTTY) or not. */
export async function honeIo(isTTY: boolean, ...argv: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    isTTY,
  });
  return { code, stdout, stderr };
}
