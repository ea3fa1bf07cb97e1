/**
 * Weight-only int4: MatMul with a constant 2-D weight becomes ORT's com.microsoft MatMulNBits, the
 * weight quantized in blocks of `blockSize` along K. Layout (ORT's contrib-op spec): B is uint8
 * [N, n_blocks, blockSize/2] with two 4-bit codes per byte, the lower k in the low nibble; scales are
 * float [N * n_blocks]; zero points uint8 [N * ceil(n_blocks/2)], two per byte the same way (absent =
 * 8). Dequantized weight = (code - zero_point) · scale.
 *
 * Beyond round-to-nearest, each block's range is chosen by a clipping-ratio grid search (as ORT's and
 * AWQ's int4 quantizers do): shrinking the range trades clipping a few outliers for finer steps for
 * the rest, and the ratio with the least squared reconstruction error wins.
 */
import type { ModelProto } from '../ir/proto.js';
import { Graph } from '../ir/graph.js';
import { makeNode } from '../ir/builder.js';
import { DataType } from '../ir/dtype.js';
import { floatTensor, makeTensor } from '../ir/tensor.js';
import { forEachGraph } from '../ir/walk.js';
import { quantRule } from '../ops/index.js';
import {
  constantWeights,
  copyModel,
  floatInitializer,
  nodeLabel,
  nothingToQuantize,
  requireDomain,
  selectionReason,
  tensorBytes,
  type NodeDecision,
  type NodeSelection,
  type QuantizeResult,
} from './common.js';
import { pruneValueInfo } from './dynamic.js';
import { badInput } from '../errors.js';

export interface Int4Options extends NodeSelection {
  /** Values per block along K: 16, 32 (default), 64, 128, 256. */
  blockSize?: number;
  /** Symmetric blocks (zero point 8, no zero-point tensor) instead of asymmetric (default). */
  symmetric?: boolean;
  /** Clipping ratios searched per block (default 1.0 down to 0.80 in steps of 0.02); [1] = plain round-to-nearest. */
  clipRatios?: readonly number[];
  /** MatMulNBits accuracy_level: 0 = ORT's default (fp32 compute), 4 = int8 compute (faster, less exact). */
  accuracyLevel?: number;
}

export const DEFAULT_CLIP_RATIOS: readonly number[] = Array.from({ length: 11 }, (_, i) => 1 - i * 0.02);

export function quantizeInt4(model: ModelProto, opts: Int4Options = {}): QuantizeResult {
  const blockSize = opts.blockSize ?? 32;
  if (![16, 32, 64, 128, 256].includes(blockSize)) throw badInput(`int4 block size must be 16, 32, 64, 128 or 256, got ${blockSize}`);
  const m = copyModel(model);
  const before = tensorBytes(m);
  const folded = constantWeights(m);
  const nodes: NodeDecision[] = [];
  let sumErr = 0;
  let sumSq = 0;
  forEachGraph(m, (gp) => {
    const g = new Graph(gp);
    const cache = new Map<string, { inputs: string[]; K: number; N: number }>();
    const old = new Set<string>();
    for (const n of [...g.nodes]) {
      if (!quantRule(n.domain, n.opType ?? '')?.int4) continue;
      const w = floatInitializer(g, n.input[1] ?? '');
      const skip =
        selectionReason(n, opts) ??
        (!w
          ? 'weight is not a float32 constant of this graph'
          : w.t.dims.length !== 2
            ? `weight has rank ${w.t.dims.length}, not 2`
            : undefined);
      if (skip) {
        nodes.push({ node: nodeLabel(n), opType: n.opType!, quantized: false, detail: skip });
        continue;
      }
      const name = n.input[1]!;
      let q = cache.get(name);
      if (!q) {
        const [K, N] = w!.t.dims as [number, number];
        const packed = packInt4(w!.data, K, N, {
          blockSize,
          symmetric: opts.symmetric ?? false,
          clipRatios: opts.clipRatios ?? DEFAULT_CLIP_RATIOS,
        });
        sumErr += packed.sqError;
        sumSq += w!.data.reduce((s, v) => s + v * v, 0);
        const nb = packed.blocks;
        const inputs = [
          g.addInitializer(makeTensor(g.freshName(`${name}_q4`), DataType.UINT8, [N, nb, blockSize / 2], packed.b)),
          g.addInitializer(floatTensor(g.freshName(`${name}_scales`), [N * nb], packed.scales)),
        ];
        if (packed.zeroPoints)
          inputs.push(
            g.addInitializer(makeTensor(g.freshName(`${name}_zero_points`), DataType.UINT8, [packed.zeroPoints.length], packed.zeroPoints)),
          );
        q = { inputs, K, N };
        cache.set(name, q);
      }
      old.add(name);
      const attrs = {
        K: q.K,
        N: q.N,
        bits: 4,
        block_size: blockSize,
        ...(opts.accuracyLevel ? { accuracy_level: opts.accuracyLevel } : {}),
      };
      g.replaceNode(n, [
        makeNode('MatMulNBits', [n.input[0]!, ...q.inputs], [n.output[0]!], attrs, { domain: 'com.microsoft', name: n.name }),
      ]);
      nodes.push({
        node: nodeLabel(n),
        opType: n.opType!,
        quantized: true,
        detail: `MatMulNBits (4-bit, block ${blockSize}${opts.symmetric ? ', symmetric' : ''})`,
      });
    }
    for (const w of old) if (!g.isUsed(w)) g.removeInitializer(w);
    pruneValueInfo(g);
  });
  if (!nodes.some((d) => d.quantized)) throw nothingToQuantize('int4', nodes, 'MatMul with a constant 2-D float weight');
  requireDomain(m, 'com.microsoft', 1);
  return {
    model: m,
    report: {
      mode: 'int4',
      settings: {
        blockSize,
        symmetric: opts.symmetric ?? false,
        clipRatios: opts.clipRatios ?? DEFAULT_CLIP_RATIOS,
        accuracyLevel: opts.accuracyLevel ?? 0,
        opTypes: ['MatMul'],
        excludeNodes: opts.excludeNodes ?? [],
      },
      nodes,
      weightBytes: { before, after: tensorBytes(m) },
      notes: [...folded, `weight reconstruction error (relative, squared): ${(sumErr / (sumSq || 1)).toExponential(2)}`],
    },
  };
}

export interface PackedInt4 {
  /** [N, blocks, blockSize/2] codes, low nibble first. */
  b: Uint8Array;
  /** [N * blocks] */
  scales: Float32Array;
  /** [N * ceil(blocks/2)] packed, or undefined when symmetric. */
  zeroPoints?: Uint8Array;
  blocks: number;
  /** Sum of squared reconstruction errors over the weight. */
  sqError: number;
}

/** Quantizes W [K, N] (row-major) block-wise along K, column by column. */
export function packInt4(
  w: Float32Array,
  K: number,
  N: number,
  o: { blockSize: number; symmetric: boolean; clipRatios: readonly number[] },
): PackedInt4 {
  const bs = o.blockSize;
  const blocks = Math.ceil(K / bs);
  const b = new Uint8Array(N * blocks * (bs / 2));
  const scales = new Float32Array(N * blocks);
  const zpPerRow = Math.ceil(blocks / 2);
  const zeroPoints = o.symmetric ? undefined : new Uint8Array(N * zpPerRow);
  const block = new Float32Array(bs);
  const codes = new Uint8Array(bs);
  let sqError = 0;
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < blocks; j++) {
      const k0 = j * bs;
      const len = Math.min(bs, K - k0);
      block.fill(0);
      for (let i = 0; i < len; i++) block[i] = w[(k0 + i) * N + n]!;
      const best = bestBlock(block, len, o.symmetric, o.clipRatios, codes);
      sqError += best.err;
      scales[n * blocks + j] = best.scale;
      if (zeroPoints) zeroPoints[n * zpPerRow + (j >> 1)]! |= best.zp << ((j & 1) * 4);
      const base = (n * blocks + j) * (bs / 2);
      for (let i = 0; i < bs; i += 2) b[base + i / 2] = (best.codes[i]! & 0xf) | ((best.codes[i + 1]! & 0xf) << 4);
    }
  }
  return { b, scales, zeroPoints, blocks, sqError };
}

/** The block's scale, zero point and codes with the least squared error over the clipping ratios. */
function bestBlock(
  x: Float32Array,
  len: number,
  symmetric: boolean,
  ratios: readonly number[],
  scratch: Uint8Array,
): { scale: number; zp: number; codes: Uint8Array; err: number } {
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < len; i++) {
    if (x[i]! < lo) lo = x[i]!;
    if (x[i]! > hi) hi = x[i]!;
  }
  let best = { scale: 1, zp: 8, codes: new Uint8Array(x.length).fill(8), err: Infinity };
  for (const r of ratios) {
    let scale: number;
    let zp: number;
    if (symmetric) {
      // Codes -8..7 around 8: the larger magnitude maps to -8 when negative, else to 7.
      const amax = Math.max(-lo, hi) * r;
      scale = amax === 0 ? 1 : -lo > hi ? amax / 8 : amax / 7;
      zp = 8;
    } else {
      const l = lo * r;
      const h = hi * r;
      scale = h - l === 0 ? 1 : (h - l) / 15;
      zp = Math.min(15, Math.max(0, Math.round(-l / scale)));
    }
    let err = 0;
    for (let i = 0; i < len; i++) {
      const c = Math.min(15, Math.max(0, Math.round(x[i]! / scale) + zp));
      scratch[i] = c;
      const d = (c - zp) * scale - x[i]!;
      err += d * d;
    }
    if (err < best.err) {
      const codes = new Uint8Array(x.length).fill(zp);
      codes.set(scratch.subarray(0, len));
      best = { scale, zp, codes, err };
    }
  }
  return best;
}

/** Reconstructs W [K, N] from a packing (the float reference the tests compare ORT against). */
export function unpackInt4(p: PackedInt4, K: number, N: number, blockSize: number): Float32Array {
  const out = new Float32Array(K * N);
  const zpPerRow = Math.ceil(p.blocks / 2);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < p.blocks; j++) {
      const zp = p.zeroPoints ? (p.zeroPoints[n * zpPerRow + (j >> 1)]! >> ((j & 1) * 4)) & 0xf : 8;
      const s = p.scales[n * p.blocks + j]!;
      for (let i = 0; i < blockSize && j * blockSize + i < K; i++) {
        const byte = p.b[(n * p.blocks + j) * (blockSize / 2) + (i >> 1)]!;
        const code = (byte >> ((i & 1) * 4)) & 0xf;
        out[(j * blockSize + i) * N + n] = (code - zp) * s;
      }
    }
  }
  return out;
}
