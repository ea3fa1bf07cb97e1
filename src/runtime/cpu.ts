/**
 * What this CPU can do that changes how a model should be quantized for it. On x86-64 without VNNI
 * (AVX512-VNNI or AVX-VNNI), ONNX Runtime's u8·s8 int8 kernels multiply with vpmaddubsw, which adds pairs
 * of products into a saturating int16: with full-range 8-bit weights and activations a pair can pass 32767
 * and the result is silently clipped. VNNI's vpdpbusd accumulates in int32 and cannot saturate; ARM's dot
 * products neither.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { arch, platform } from 'node:process';

export interface CpuFeatures {
  arch: string;
  /** CPU flags as the OS reports them (Linux: /proc/cpuinfo), or undefined where they cannot be read. */
  flags?: ReadonlySet<string>;
  /** x86 family and model numbers (Linux: /proc/cpuinfo's `cpu family` and `model`), where known. */
  family?: number;
  model?: number;
}

let cached: CpuFeatures | undefined;

export function cpuFeatures(): CpuFeatures {
  if (cached) return cached;
  let info: string | undefined;
  if (platform === 'linux') {
    try {
      info = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      // No /proc (a sandbox): the flags stay unknown.
    }
  }
  cached = { arch, ...parseCpuinfo(info) };
  return cached;
}

/** The first processor's flags (x86 `flags`, ARM `Features`), family and model from /proc/cpuinfo's text. */
export function parseCpuinfo(text: string | undefined): Omit<CpuFeatures, 'arch'> {
  if (text === undefined) return {};
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim();
  const line = field('flags') ?? field('Features');
  const num = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined);
  const family = num(field('cpu family'));
  const model = num(field('model'));
  return {
    ...(line !== undefined ? { flags: new Set(line.split(/\s+/)) } : {}),
    ...(family !== undefined ? { family } : {}),
    ...(model !== undefined ? { model } : {}),
  };
}

/** The instruction-set extensions that change which kernels ORT runs (and so speed, and int8 numerics). */
const KERNEL_FLAGS: readonly [string, string][] = [
  ['avx2', 'AVX2'],
  ['fma', 'FMA'],
  ['avx512f', 'AVX-512'],
  ['avx512_vnni', 'AVX-512 VNNI'],
  ['avx_vnni', 'AVX-VNNI'],
  ['avx512_bf16', 'AVX-512 BF16'],
  ['amx_tile', 'AMX'],
  ['asimddp', 'dot product'],
  ['i8mm', 'int8 matrix multiply'],
  ['sve', 'SVE'],
];

/** The CPU's name as the OS gives it (`os.cpus()`). */
function cpuName(): string {
  return cpus()[0]?.model.trim() ?? 'unknown CPU';
}

/** The KERNEL_FLAGS entries this CPU has (none where its flags are unknown). */
function kernelFlags(cpu: CpuFeatures): (typeof KERNEL_FLAGS)[number][] {
  return KERNEL_FLAGS.filter(([f]) => cpu.flags?.has(f));
}

/**
 * What identifies this CPU for results that depend on it (the passes' cache, the machine peaks): its name
 * alone does not — cloud VMs of one name ("AMD EPYC") run on CPUs with and without AVX-512 and VNNI, whose
 * ORT kernels, speed and int8 defaults differ — so the family, model and kernel-relevant flags go with it.
 */
export function cpuIdentity(name: string = cpuName(), cpu: CpuFeatures = cpuFeatures()): string {
  const flags = kernelFlags(cpu).map(([f]) => f);
  return [name, cpu.arch, `${cpu.family ?? '?'}/${cpu.model ?? '?'}`, cpu.flags ? flags.join(',') : 'flags unknown'].join('|');
}

/** The CPU for reports: its name, x86 family and model, and the extensions ORT's kernels use. */
export function cpuDescription(name: string = cpuName(), cpu: CpuFeatures = cpuFeatures()): string {
  const parts: string[] = [];
  if (cpu.family !== undefined && cpu.model !== undefined) parts.push(`family ${cpu.family} model ${cpu.model}`);
  if (cpu.flags) {
    const has = kernelFlags(cpu).map(([, label]) => label);
    if (cpu.arch === 'x64' && !cpu.flags.has('avx512f')) has.push('no AVX-512');
    if (has.length) parts.push(has.join(', '));
  }
  return parts.length ? `${name} (${parts.join('; ')})` : name;
}

/**
 * Whether int8 dot products with full 8-bit weights can saturate on this CPU: x86-64 whose flags are known
 * and carry neither avx512_vnni nor avx_vnni. Unknown flags count as no risk (nothing to base a change on).
 */
export function int8SaturationRisk(cpu: CpuFeatures = cpuFeatures()): boolean {
  if (cpu.arch !== 'x64' || !cpu.flags) return false;
  return !cpu.flags.has('avx512_vnni') && !cpu.flags.has('avx_vnni');
}

let cores: number | undefined;

/**
 * Intra-op threads for the sessions Hone runs for its own work (training steps and their evaluation): one
 * per core, as the OS counts cores (Linux: distinct package and core ids in sysfs), at most the CPUs this
 * process may use. ORT's own default (intraOpNumThreads 0) counts physical cores its own way, and on the
 * 2-vCPU AMD EPYC VMs this project runs on it came out as one — a ResNet training step at ResNet-18 widths
 * took 630 ms at ORT's default against 490 ms at two threads (docs/design.md, Training).
 */
export function coreThreads(): number {
  const all = availableParallelism();
  cores ??= Math.max(1, Math.min(all, (platform === 'linux' ? linuxCores() : undefined) ?? all));
  return cores;
}

/** Distinct (package, core) pairs among the CPUs sysfs lists, or undefined where it cannot be read. */
export function linuxCores(root = '/sys/devices/system/cpu'): number | undefined {
  try {
    const seen = new Set<string>();
    for (const name of readdirSync(root)) {
      if (!/^cpu\d+$/.test(name)) continue;
      const read = (f: string) => readFileSync(`${root}/${name}/topology/${f}`, 'utf8').trim();
      let id: string;
      try {
        id = `${read('physical_package_id')}/${read('core_id')}`;
      } catch {
        continue; // an offline CPU has no topology
      }
      seen.add(id);
    }
    return seen.size || undefined;
  } catch {
    return undefined;
  }
}
