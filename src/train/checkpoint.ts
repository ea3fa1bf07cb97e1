/**
 * Checkpoints: one file, `checkpoint.bin` in the checkpoint folder — a JSON header (progress, optimizer
 * and schedule state, history) and the raw float32 arrays (parameters, then optimizer slots). Written
 * atomically, so a crash mid-write leaves the previous checkpoint intact.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { badInput } from '../errors.js';
import { ensureDir, writeFileAtomic } from '../util/fs.js';
import type { OptimizerState } from './optimizers.js';

const MAGIC = 0x4b434e48; // 'HNCK'

export interface CheckpointMeta {
  version: 1;
  /** Epochs completed. */
  epoch: number;
  step: number;
  /** Steps of the next epoch already taken (a checkpoint within an epoch, TrainOptions.checkpointEverySteps); absent: none. */
  stepInEpoch?: number;
  seed: number;
  params: { name: string; size: number }[];
  /** Running statistics and other non-trained state, after the parameters. */
  buffers: { name: string; size: number }[];
  optimizer: { kind: OptimizerState['kind']; step: number; slotsPerParam: number };
  schedule: Record<string, number>;
  /** Trainer state that must survive a resume: the history and each callback's state (early stopping: bestValLoss, badEpochs). */
  trainer: { history: unknown[]; [state: string]: unknown };
}

export interface Checkpoint {
  meta: CheckpointMeta;
  params: Float32Array[];
  buffers: Float32Array[];
  optimizer: OptimizerState;
}

export function checkpointPath(dir: string): string {
  return join(dir, 'checkpoint.bin');
}

export function saveCheckpoint(
  dir: string,
  meta: Omit<CheckpointMeta, 'version' | 'params' | 'buffers' | 'optimizer'>,
  names: string[],
  params: Float32Array[],
  opt: OptimizerState,
  buffers: { name: string; data: Float32Array }[] = [],
): void {
  ensureDir(dir);
  const full: CheckpointMeta = {
    version: 1,
    ...meta,
    params: names.map((name, i) => ({ name, size: params[i]!.length })),
    buffers: buffers.map((b) => ({ name: b.name, size: b.data.length })),
    optimizer: { kind: opt.kind, step: opt.step, slotsPerParam: opt.slots[0]?.length ?? 0 },
  };
  const json = new TextEncoder().encode(JSON.stringify(full));
  const pad = (4 - ((8 + json.length) % 4)) % 4;
  const head = new Uint8Array(8 + json.length + pad);
  const dv = new DataView(head.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, json.length, true);
  head.set(json, 8);
  const arrays = [...params, ...buffers.map((b) => b.data), ...opt.slots.flat()];
  writeFileAtomic(checkpointPath(dir), [head, ...arrays.map((a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength))]);
}

export function loadCheckpoint(dir: string): Checkpoint | undefined {
  const path = checkpointPath(dir);
  if (!existsSync(path)) return undefined;
  const bytes = new Uint8Array(readFileSync(path));
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 8 || dv.getUint32(0, true) !== MAGIC)
    throw badInput(`${path} is not a Hone checkpoint; point --checkpoint at a folder written by 'hone train'`);
  const len = dv.getUint32(4, true);
  const meta = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len))) as CheckpointMeta;
  let off = 8 + len + ((4 - ((8 + len) % 4)) % 4);
  const take = (n: number) => {
    const a = new Float32Array(bytes.buffer.slice(bytes.byteOffset + off, bytes.byteOffset + off + 4 * n));
    if (a.length !== n) throw badInput(`${path} is truncated; delete it to start over`);
    off += 4 * n;
    return a;
  };
  const params = meta.params.map((p) => take(p.size));
  const buffers = (meta.buffers ?? []).map((b) => take(b.size));
  const slots = meta.params.map((p) => Array.from({ length: meta.optimizer.slotsPerParam }, () => take(p.size)));
  // SGD without momentum keeps no slots at all.
  const optimizer: OptimizerState = {
    kind: meta.optimizer.kind,
    step: meta.optimizer.step,
    slots: meta.optimizer.slotsPerParam ? slots : [],
  };
  return { meta, params, buffers, optimizer };
}
