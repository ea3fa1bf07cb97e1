/**
 * What this CPU can do that changes how a model should be quantized for it. On x86-64 without VNNI
 * (AVX512-VNNI or AVX-VNNI), ONNX Runtime's u8·s8 int8 kernels multiply with vpmaddubsw, which adds pairs
 * of products into a saturating int16: with full-range 8-bit weights and activations a pair can pass 32767
 * and the result is silently clipped. VNNI's vpdpbusd accumulates in int32 and cannot saturate; ARM's dot
 * products neither.
 */
import { readFileSync } from 'node:fs';
import { arch, platform } from 'node:process';

export interface CpuFeatures {
  arch: string;
  /** CPU flags as the OS reports them (Linux: /proc/cpuinfo), or undefined where they cannot be read. */
  flags?: ReadonlySet<string>;
}

let cached: CpuFeatures | undefined;

export function cpuFeatures(): CpuFeatures {
  if (cached) return cached;
  let flags: Set<string> | undefined;
  if (platform === 'linux') {
    try {
      const line = /^flags\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
      if (line !== undefined) flags = new Set(line.trim().split(/\s+/));
    } catch {
      // No /proc (a sandbox): the flags stay unknown.
    }
  }
  cached = { arch, flags };
  return cached;
}

/**
 * Whether int8 dot products with full 8-bit weights can saturate on this CPU: x86-64 whose flags are known
 * and carry neither avx512_vnni nor avx_vnni. Unknown flags count as no risk (nothing to base a change on).
 */
export function int8SaturationRisk(cpu: CpuFeatures = cpuFeatures()): boolean {
  if (cpu.arch !== 'x64' || !cpu.flags) return false;
  return !cpu.flags.has('avx512_vnni') && !cpu.flags.has('avx_vnni');
}
