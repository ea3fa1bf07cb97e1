// Exit codes and messages: a mistake in the user's model, data or flags is exit 2 with one `hone: …`
// line, found before the work starts; exit 1 is a bug in Hone and says how to report it; --json carries
// every warning the report shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { internalError } from '../../src/cli/main.js';
import { quantizeText } from '../../src/report/quantize-text.js';
import { quantizeHtml } from '../../src/report/quantize-html.js';
import type { QuantizeSummary } from '../../src/quantize/pipeline.js';
import { hone } from '../helpers/cli.js';

test('mismatched model and data: exit 2, one line, before any training step', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hone-errors-'));
  try {
    const out = join(dir, 'o.onnx');
    const cases: [string[], RegExp][] = [
      // The issue's example: a sequence model fed images.
      [
        ['train', '--model', 'zoo:transformer', '--data', 'mnist', '-o', out],
        /^hone: the training data: input 'input' expects samples of rank 2 \[seq, 256\] but the data has \[1, 28, 28\]; .*--dim seq=N/,
      ],
      // A regression loss against class indices used to fail inside onnxruntime at step 1.
      [
        ['train', '--model', 'zoo:mlp:hidden=16', '--data', 'mnist', '--loss', 'mse', '--limit', '128', '-o', out],
        /^hone: --loss mse needs a target of the output's shape \[10\] per sample, but the labels have \[\] \(class indices\? use --loss cross-entropy\)/,
      ],
      [
        ['lr-find', '--model', 'zoo:mlp:hidden=16', '--data', 'mnist', '--loss', 'l1', '--limit', '128'],
        /^hone: --loss l1 needs a target of the output's shape \[10\]/,
      ],
      [
        ['lr-find', '--model', 'zoo:resnet', '--data', 'mnist'],
        /^hone: the training data: input 'input' expects samples of shape \[3, 32, 32\] \(3072 values\) but the data has \[1, 28, 28\] \(784\)/,
      ],
      [
        ['lr-find', '--model', 'zoo:mlp:hidden=16', '--data', 'mnist', '--batch-size', '100000'],
        /^hone: the data has 8000 samples, fewer than one batch of 100000; lower --batch-size\n$/,
      ],
      [
        ['quantize', 'zoo:mlp:hidden=16', '-o', out, '--mode', 'static', '--calib', 'mnist'],
        /^hone: mnist \(train\): array 'input' has shape \[\d+,1,28,28\], but input 'input' expects \[batch,784\]/,
      ],
      [['profile', 'zoo:lenet5', '--shape', 'input=1x784'], /^hone: --shape input=1x784 has rank 2, but input 'input' has rank 4/],
      [['profile', dir], /^hone: .* is a folder; pass the \.onnx file inside it\n$/],
      // An --html path it cannot write is refused before the profile runs.
      [['profile', 'zoo:lenet5', '--html', join(dir, 'missing', 'p.html')], /^hone: cannot write .*p\.html: its folder does not exist/],
    ];
    for (const [argv, want] of cases) {
      const r = await hone(...argv, '--quiet');
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, want, argv.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, argv.join(' '));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an internal error says it is a bug and how to report it; --debug adds the stack', () => {
  const e = new TypeError("Cannot read properties of undefined (reading 'x')");
  const plain = internalError(e, false);
  assert.match(
    plain,
    /^hone: internal error: Cannot read properties of undefined \(reading 'x'\)\nhone: this is a bug in Hone \S+; rerun with --debug for the stack trace and report it/,
  );
  assert.ok(!plain.includes(' at '), 'no stack without --debug');
  const debug = internalError(e, true);
  assert.match(debug, /please report it .*with the command line and this output\nTypeError: Cannot read properties/);
  assert.ok(debug.includes(e.stack!.split('\n')[1]!));
});

test('quantize: the table and the HTML show exactly the warnings --json carries', async () => {
  const r = await hone(
    'quantize',
    'zoo:mlp:hidden=16',
    '-o',
    join(tmpdir(), `hone-warn-${process.pid}.onnx`),
    '--json',
    '--no-latency',
    '--quiet',
  );
  assert.equal(r.code, 0, r.stderr);
  const { output, ...summary } = JSON.parse(r.stdout) as QuantizeSummary & { output: string };
  rmSync(output, { force: true });
  // A summary whose fidelity found non-finite outputs: the table may show only what `warnings` holds.
  const s: QuantizeSummary = {
    ...summary,
    fidelity: {
      ...summary.fidelity!,
      nonFinite: { count: 1, total: 10, outputs: ['logits'], message: 'logits is Inf/NaN in 1 of 10 values' },
    },
    warnings: ['first warning', 'second warning'],
  };
  const shown = quantizeText(s, output)
    .split('\n')
    .filter((l) => /warning/i.test(l));
  assert.deepEqual(shown, ['Warning: first warning.', 'Warning: second warning.']);
  const html = quantizeHtml(s, output);
  assert.deepEqual(
    [...html.matchAll(/<p class="warn">([^<]*)<\/p>/g)].map((m) => m[1]),
    ['Warning: first warning.', 'Warning: second warning.'],
  );
});
