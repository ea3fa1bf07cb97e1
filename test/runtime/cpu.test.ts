// The CPU's identity for caches and its description for reports: two VMs both named "AMD EPYC", one with
// AVX-512 and VNNI (Zen 4) and one without (Zen 3), must not share cached passes or peaks, and reports must
// say which one measured.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuDescription, cpuIdentity, int8SaturationRisk, parseCpuinfo } from '../../src/runtime/cpu.js';

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
