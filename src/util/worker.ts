import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/**
 * `node` arguments that run the module `name` (a path without extension) beside the module at `here` (its
 * import.meta.url) in a child process: `.js` in dist/, `.ts` from source with tsx registered first (resolved
 * here, because the child's working folder may not see it).
 */
export function nodeScriptArgs(here: string, name: string): string[] {
  const fromSource = here.endsWith('.ts');
  const path = fileURLToPath(new URL(`./${name}.${fromSource ? 'ts' : 'js'}`, here));
  return fromSource ? ['--import', import.meta.resolve('tsx'), path] : [path];
}

/**
 * Starts the worker module `name` (without extension) that sits beside the module at `here`
 * (its import.meta.url): `.js` in dist/, `.ts` when run from source through tsx. A TypeScript worker is
 * started through a one-line ESM bootstrap that registers tsx in the new thread first, because on Node 20
 * `execArgv: ['--import', 'tsx']` does not apply to a worker's entry file.
 */
export function spawnWorker(here: string, name: string, workerData?: unknown): Worker {
  const fromSource = here.endsWith('.ts');
  const url = new URL(`./${name}.${fromSource ? 'ts' : 'js'}`, here);
  if (!fromSource) return new Worker(url, { workerData });
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); });`;
  return new Worker(boot, { eval: true, workerData });
}
