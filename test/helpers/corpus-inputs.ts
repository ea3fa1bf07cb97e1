import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import * as ort from 'onnxruntime-node';
import { parseNpy } from '../../src/data/npy.js';
import { corpusModels } from './corpus.js';

/** ORT's own warnings (unused initializers, initializers listed as inputs) are not the test's output. */
const QUIET: ort.InferenceSession.SessionOptions = { logSeverityLevel: 3 };

/**
 * Real inputs for the corpus models (test/corpus/inputs, made by test/corpus/make-inputs.ts): rendered text
 * for PaddleOCR, drawn line scenes for M-LSD, synthesized speech for Silero VAD and openWakeWord (through
 * the openWakeWord front-end models, as its library feeds them). Each model gets the preprocessing its own
 * library applies. Models without an entry here (BlazeFace: no face images ship with the repository; the
 * local exports, whose weights are random) are judged on seeded random inputs.
 */
export interface RealData {
  /** Arrays by model input name, samples first (each sample is one batch-1 feed). */
  arrays: Record<string, { data: Float32Array; dims: number[] }>;
  /** Inputs fed one value in every sample (`--input NAME=VALUE`), e.g. a sample rate or a zero state. */
  values: Record<string, number>;
  what: string;
}

const INPUTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'corpus', 'inputs');

function load(name: string): { data: ArrayLike<number>; dims: number[] } {
  const t = parseNpy(gunzipSync(readFileSync(join(INPUTS, `${name}.npy.gz`))), name);
  return { data: t.data as ArrayLike<number>, dims: t.dims };
}

/** Grayscale H×W images → N×3×H×W floats, per channel (v/255 − mean) / std. */
function nchw(name: string, mean: number[], std: number[]): { data: Float32Array; dims: number[] } {
  const { data, dims } = load(name);
  const [n, h, w] = dims as [number, number, number];
  const out = new Float32Array(n * 3 * h * w);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < 3; c++)
      for (let p = 0; p < h * w; p++) {
        out[(i * 3 + c) * h * w + p] = (data[i * h * w + p]! / 255 - mean[c]!) / std[c]!;
      }
  return { data: out, dims: [n, 3, h, w] };
}

function speech(): Float32Array {
  return Float32Array.from(load('speech-16k').data);
}

function modelPath(id: string): string {
  const m = corpusModels().find((x) => x.id === id);
  if (!m?.present) throw new Error(`corpus model ${id} is missing; run node scripts/corpus.mjs`);
  return m.path;
}

/** openWakeWord's front end: int16-scaled audio → mel frames (÷10 + 2, as its library does), [frames, 32]. */
async function melFrames(): Promise<{ frames: Float32Array; count: number }> {
  const s = await ort.InferenceSession.create(modelPath('oww-melspectrogram'), QUIET);
  const audio = speech();
  const out = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', audio, [1, audio.length]) });
  await s.release();
  const mel = out[s.outputNames[0]!]!;
  const frames = Float32Array.from(mel.data as Float32Array, (v) => v / 10 + 2);
  return { frames, count: frames.length / 32 };
}

/** Windows of 76 mel frames, every `step` frames: openWakeWord's embedding model inputs [n, 76, 32, 1]. */
async function melWindows(step: number): Promise<{ data: Float32Array; dims: number[] }> {
  const { frames, count } = await melFrames();
  const starts = Array.from({ length: Math.floor((count - 76) / step) + 1 }, (_, k) => k * step);
  const data = new Float32Array(starts.length * 76 * 32);
  starts.forEach((s, k) => data.set(frames.subarray(s * 32, (s + 76) * 32), k * 76 * 32));
  return { data, dims: [starts.length, 76, 32, 1] };
}

/** Sequences of `len` speech embeddings (96 each, one per 8 mel frames): a wake-word model's inputs. */
async function embeddingSequences(len: number): Promise<{ data: Float32Array; dims: number[] }> {
  const windows = await melWindows(8);
  const s = await ort.InferenceSession.create(modelPath('oww-embedding'), QUIET);
  const n = windows.dims[0]!;
  const out = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', windows.data, windows.dims) });
  await s.release();
  const emb = out[s.outputNames[0]!]!.data as Float32Array;
  const seqs = Array.from({ length: Math.max(0, n - len + 1) }, (_, k) => k).filter((k) => k % 4 === 0);
  const data = new Float32Array(seqs.length * len * 96);
  seqs.forEach((k, i) => data.set(emb.subarray(k * 96, (k + len) * 96), i * len * 96));
  return { data, dims: [seqs.length, len, 96] };
}

/** Speech in 512-sample chunks scaled to [-1, 1): Silero VAD's input at 16 kHz, [n, 512]. */
function speechChunks(): { data: Float32Array; dims: number[] } {
  const audio = speech();
  const n = Math.floor(audio.length / 512);
  return { data: Float32Array.from(audio.subarray(0, n * 512), (v) => v / 32768), dims: [n, 512] };
}

const OCR_DET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const OCR_REC = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };

export async function realData(id: string): Promise<RealData | undefined> {
  switch (id) {
    case 'ppocr-v4-det':
      return { arrays: { x: nchw('ocr-det', OCR_DET.mean, OCR_DET.std) }, values: {}, what: '16 rendered text pages, 320×320' };
    case 'ppocr-v4-rec':
      return { arrays: { x: nchw('ocr-rec', OCR_REC.mean, OCR_REC.std) }, values: {}, what: '20 rendered text lines, 48×320' };
    case 'ppocr-v2-cls':
      return {
        arrays: { x: nchw('ocr-cls', OCR_REC.mean, OCR_REC.std) },
        values: {},
        what: '12 rendered text lines, half upside down, 48×192',
      };
    case 'mlsd-320-tiny': {
      // M-LSD's library appends an alpha channel of ones to RGB and scales to [-1, 1].
      const { data, dims } = load('line-scenes');
      const [n, h, w] = dims as [number, number, number];
      const out = new Float32Array(n * h * w * 4);
      for (let p = 0; p < n * h * w; p++) {
        const v = data[p]! / 127.5 - 1;
        out.set([v, v, v, 1 / 127.5 - 1], p * 4);
      }
      return {
        arrays: { 'input_image_with_alpha:0': { data: out, dims: [n, h, w, 4] } },
        values: {},
        what: '4 drawn line scenes, 320×320',
      };
    }
    case 'silero-vad-legacy':
      return {
        arrays: { input: speechChunks() },
        values: { sr: 16000, h: 0, c: 0 },
        what: 'synthesized speech (espeak-ng), 512-sample chunks',
      };
    case 'silero-vad-v5':
    case 'silero-vad-v5-op15':
    case 'silero-vad-v5-dynamo':
      return {
        arrays: { input: speechChunks() },
        values: { sr: 16000, state: 0 },
        what: 'synthesized speech (espeak-ng), 512-sample chunks',
      };
    case 'oww-melspectrogram': {
      const audio = speech();
      const n = Math.floor(audio.length / 1760);
      return {
        arrays: { input: { data: audio.slice(0, n * 1760), dims: [n, 1760] } },
        values: {},
        what: 'synthesized speech, 1760-sample chunks (int16 scale)',
      };
    }
    case 'oww-embedding':
      return { arrays: { input_1: await melWindows(4) }, values: {}, what: 'mel windows of synthesized speech (openWakeWord front end)' };
    case 'oww-hey-jarvis':
      return {
        arrays: { 'x.1': await embeddingSequences(16) },
        values: {},
        what: 'speech embeddings of synthesized speech incl. "hey jarvis"',
      };
    case 'oww-hello-deepa':
      return { arrays: { 'onnx::Flatten_0': await embeddingSequences(25) }, values: {}, what: 'speech embeddings of synthesized speech' };
    default:
      return undefined;
  }
}
