/**
 * Execution providers: which ones this onnxruntime-node install can use, and a clear error for the ones
 * it cannot. `listSupportedBackends()` names every provider the binding was built with; `bundled: false`
 * ones (CUDA, TensorRT) are separate shared libraries downloaded at install time, so we check that the
 * library file is really there before ORT tries (and fails noisily) to load it.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { badInput } from '../errors.js';

export interface ProviderInfo {
  name: string;
  /** True when a session can be asked for it (its libraries are present). */
  available: boolean;
  /** Why it is not available, and what to do. */
  reason?: string;
}

/** Every provider the installed binding knows, with its availability. */
export function listProviders(): ProviderInfo[] {
  return ort.listSupportedBackends().map(({ name, bundled }) => {
    if (bundled) return { name, available: true };
    const lib = sharedLibrary(name);
    if (lib && existsSync(join(bindingDir(), lib))) return { name, available: true };
    return { name, available: false, reason: installAdvice(name) };
  });
}

/** Throws a HoneError unless `name` can be used on this install; returns the ORT provider name. */
export function checkProvider(name: string): string {
  const wanted = name.toLowerCase();
  const all = listProviders();
  const p = all.find((x) => x.name === wanted);
  const usable = all
    .filter((x) => x.available)
    .map((x) => x.name)
    .join(', ');
  if (!p) {
    throw badInput(`provider '${name}' is not supported by onnxruntime-node on ${process.platform}/${process.arch}; use one of: ${usable}`);
  }
  if (!p.available) throw badInput(`provider '${name}' is not installed: ${p.reason}`);
  return p.name;
}

function sharedLibrary(provider: string): string | undefined {
  const ext = process.platform === 'win32' ? 'dll' : process.platform === 'darwin' ? 'dylib' : 'so';
  const pre = process.platform === 'win32' ? '' : 'lib';
  if (provider === 'cuda' || provider === 'tensorrt') return `${pre}onnxruntime_providers_${provider}.${ext}`;
  return undefined;
}

function installAdvice(provider: string): string {
  if (provider === 'cuda' || provider === 'tensorrt') {
    const why =
      'onnxruntime-node was installed without its GPU libraries (its install script downloads them; it was ' +
      "skipped, as a clone of Hone does through package.json's allowScripts and as --ignore-scripts and " +
      'ONNXRUNTIME_NODE_INSTALL=skip do, or its download failed)';
    if (`${process.platform}/${process.arch}` !== GPU_INSTALL_PLATFORM) {
      return `${why}; onnxruntime-node ${ort.env.versions.node ?? ort.env.versions.common} downloads them only on ${GPU_INSTALL_PLATFORM}, so use --provider cpu here`;
    }
    const needs = provider === 'cuda' ? 'CUDA 12 and cuDNN 9' : 'CUDA 12, cuDNN 9 and TensorRT 10';
    return `${why}; with ${needs} and network access, run '${gpuInstallCommand()}', or use --provider cpu`;
  }
  return `its libraries are missing from this onnxruntime-node install; reinstall onnxruntime-node or use --provider cpu`;
}

/** The one platform whose onnxruntime-node install script fetches the CUDA/TensorRT libraries (a test reads its metadata). */
export const GPU_INSTALL_PLATFORM = 'linux/x64';

/**
 * The command that fetches the CUDA/TensorRT libraries: onnxruntime-node's own install script, run by hand
 * with the flag its parser reads as CUDA 12. The path is the onnxruntime-node this code resolves, so the
 * command is right from a clone and from a project (or global install) that has Hone as a dependency.
 */
export function gpuInstallCommand(): string {
  const script = join(ortDir(), 'script', 'install.js');
  return `node ${/\s/.test(script) ? JSON.stringify(script) : script} --onnxruntime-node-install-cuda=v12`;
}

/** The folder holding onnxruntime_binding.node and the provider libraries. */
function bindingDir(): string {
  return join(ortDir(), 'bin', 'napi-v6', process.platform, process.arch);
}

/** The installed onnxruntime-node package folder. */
function ortDir(): string {
  return dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
}
