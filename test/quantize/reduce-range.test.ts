import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { cpuFeatures, int8SaturationRisk } from '../../src/runtime/cpu.js';
import { quantizeDynamic } from '../../src/quantize/index.js';
import { zooModel } from '../../src/zoo/index.js';

test('int8 saturation risk: x86-64 without VNNI only', () => {
  const flags = (s: string) => new Set(s.split(' '));
  assert.equal(int8SaturationRisk({ arch: 'x64', flags: flags('sse4_2 avx2 fma') }), true);
  assert.equal(
    int8SaturationRisk({ arch: 'x64', flags: flags('avx2 avx512f avx512bw') }),
    true,
    'AVX512 without VNNI still uses vpmaddubsw',
  );
  assert.equal(int8SaturationRisk({ arch: 'x64', flags: flags('avx2 avx512f avx512_vnni') }), false);
  assert.equal(int8SaturationRisk({ arch: 'x64', flags: flags('avx2 avx_vnni') }), false);
  assert.equal(int8SaturationRisk({ arch: 'arm64', flags: flags('fp asimd') }), false);
  assert.equal(int8SaturationRisk({ arch: 'x64', flags: undefined }), false, 'unknown flags change nothing');
});

test('this machine: the flags are read on Linux, and quantization defaults to 7-bit weights exactly where they risk saturation', () => {
  const cpu = cpuFeatures();
  if (process.platform === 'linux') assert.ok(cpu.flags && cpu.flags.size > 0, 'Linux reports CPU flags in /proc/cpuinfo');
  const risk = int8SaturationRisk(cpu);
  const model = zooModel('mlp');
  const auto = quantizeDynamic(model);
  assert.equal(auto.report.settings.reduceRange, risk);
  assert.equal(
    auto.report.notes.some((n) => n.includes('--no-reduce-range')),
    risk,
    'the automatic choice is explained',
  );
  assert.equal(quantizeDynamic(model, { reduceRange: false }).report.settings.reduceRange, false);
  assert.equal(quantizeDynamic(model, { reduceRange: true }).report.settings.reduceRange, true);
});

test('hone quantize: --no-reduce-range gives 8-bit weights here too, --reduce-range 7-bit; both together is refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hone-reduce-range-'));
  try {
    const cli = async (...args: string[]) => {
      let stdout = '';
      let stderr = '';
      const code = await main(args, {
        stdout: (s) => {
          stdout += s;
        },
        stderr: (s) => {
          stderr += s;
        },
        isTTY: false,
      });
      return { code, stdout, stderr };
    };
    const out = join(dir, 'mlp.int8.onnx');
    for (const [flag, want] of [
      ['--no-reduce-range', false],
      ['--reduce-range', true],
    ] as const) {
      const r = await cli(
        'quantize',
        'zoo:mlp',
        '-o',
        out,
        '--mode',
        'dynamic',
        flag,
        '--no-latency',
        '--samples',
        '4',
        '--json',
        '--quiet',
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).report.settings.reduceRange, want);
    }
    rmSync(out);
    const both = await cli('quantize', 'zoo:mlp', '-o', out, '--reduce-range', '--no-reduce-range');
    assert.equal(both.code, 2);
    assert.match(both.stderr, /^hone: --reduce-range and --no-reduce-range contradict each other; give one .*\n$/);
    assert.equal(existsSync(out), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
