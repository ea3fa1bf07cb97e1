// The CPU's identity for caches and its description for reports: two VMs both named "AMD EPYC", one with
// AVX-512 and VNNI (Zen 4) and one without (Zen 3), must not share cached passes or peaks, and reports must
// say which one measured.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { coreThreads, cpuDescription, cpuIdentity, int8SaturationRisk, linuxCores, parseCpuinfo } from '../../src/runtime/cpu.js';

const ZEN3 = `processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 1
model name\t: AMD EPYC
stepping\t: 1
flags\t\t: fpu vme sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 sha_ni vaes
processor\t: 1
cpu family\t: 25
model\t\t: 1
flags\t\t: fpu vme sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 sha_ni vaes
`;
const ZEN4 = ZEN3.replace(/model\t\t: 1/g, 'model\t\t: 17').replace(/avx2 sha_ni/g, 'avx2 avx512f avx512_vnni avx512_bf16 sha_ni');
const GRAVITON = `processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm asimddp i8mm
CPU implementer\t: 0x41
`;

test('reads family, model and flags of the first processor; ARM features; nothing without /proc', () => {
  const z3 = parseCpuinfo(ZEN3);
  assert.equal(z3.family, 25);
  assert.equal(z3.model, 1, "'model name' is not the model number");
  assert.ok(z3.flags?.has('avx2') && !z3.flags.has('avx512f'));
  const arm = parseCpuinfo(GRAVITON);
  assert.ok(arm.flags?.has('asimddp') && arm.flags.has('i8mm'));
  assert.equal(arm.family, undefined);
  assert.deepEqual(parseCpuinfo(undefined), {});
});

test('two CPUs of one name get different identities and descriptions; the same CPU the same', () => {
  const z3 = { arch: 'x64', ...parseCpuinfo(ZEN3) };
  const z4 = { arch: 'x64', ...parseCpuinfo(ZEN4) };
  assert.notEqual(cpuIdentity('AMD EPYC', z3), cpuIdentity('AMD EPYC', z4));
  assert.equal(cpuIdentity('AMD EPYC', z3), cpuIdentity('AMD EPYC', { arch: 'x64', ...parseCpuinfo(ZEN3) }));
  assert.equal(cpuIdentity('AMD EPYC', z3), 'AMD EPYC|x64|25/1|avx2,fma');
  assert.equal(cpuDescription('AMD EPYC', z3), 'AMD EPYC (family 25 model 1; AVX2, FMA, no AVX-512)');
  assert.equal(cpuDescription('AMD EPYC', z4), 'AMD EPYC (family 25 model 17; AVX2, FMA, AVX-512, AVX-512 VNNI, AVX-512 BF16)');
  assert.equal(cpuDescription('Neoverse', { arch: 'arm64', ...parseCpuinfo(GRAVITON) }), 'Neoverse (dot product, int8 matrix multiply)');
  assert.equal(cpuDescription('Mystery', { arch: 'x64' }), 'Mystery');
  assert.equal(cpuIdentity('Mystery', { arch: 'x64' }), 'Mystery|x64|?/?|flags unknown');
  // The int8 rule reads the same flags: the Zen 3 risks saturation, the Zen 4 does not.
  assert.equal(int8SaturationRisk(z3), true);
  assert.equal(int8SaturationRisk(z4), false);
});

test('this machine: an identity and a description that start with its name', () => {
  assert.match(cpuIdentity(), /\|/);
  assert.ok(cpuDescription().length > 0);
});

test('cores from sysfs: SMT siblings count once, offline CPUs (no topology) not at all', () => {
  const root = mkdtempSync(join(tmpdir(), 'hone-sysfs-'));
  try {
    // cpu0/cpu2 and cpu1/cpu3: two cores with two threads each; cpu4 offline; cpu5 on a second package.
    const cpu = (n: number, pkg?: number, core?: number) => {
      const dir = join(root, `cpu${n}`, 'topology');
      mkdirSync(pkg === undefined ? join(root, `cpu${n}`) : dir, { recursive: true });
      if (pkg === undefined) return;
      writeFileSync(join(dir, 'physical_package_id'), `${pkg}\n`);
      writeFileSync(join(dir, 'core_id'), `${core}\n`);
    };
    cpu(0, 0, 0);
    cpu(1, 0, 1);
    cpu(2, 0, 0);
    cpu(3, 0, 1);
    cpu(4);
    cpu(5, 1, 0);
    mkdirSync(join(root, 'cpufreq'));
    assert.equal(linuxCores(root), 3);
    assert.equal(linuxCores(join(root, 'missing')), undefined);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('this machine: one training thread per core, at most the CPUs the process may use', () => {
  const n = coreThreads();
  assert.ok(Number.isInteger(n) && n >= 1 && n <= availableParallelism(), `${n}`);
  if (process.platform === 'linux' && linuxCores() !== undefined) assert.equal(n, Math.min(availableParallelism(), linuxCores()!));
});
