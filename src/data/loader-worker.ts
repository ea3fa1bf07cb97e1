/**
 * A loader worker thread: builds the batches the main thread asks for (batch.ts) and hands each back
 * with its buffers transferred, not copied.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { BatchBuilder, type BatchJob, type LoaderSource } from './batch.js';
import type { AugmentSpec } from './augment.js';
import type { ArrayTensor } from './dataset.js';

interface Init {
  source: LoaderSource;
  augment?: AugmentSpec;
  classes?: number;
}

const init = workerData as Init;
let builder: BatchBuilder | undefined;
try {
  builder = new BatchBuilder(init.source, init.augment, init.classes);
} catch (e) {
  parentPort!.postMessage({ id: -1, error: (e as Error).message, user: (e as { exitCode?: number }).exitCode === 2 });
}

parentPort!.on('message', async (msg: { id: number; job: BatchJob } | { close: true } | { recycle: ArrayBuffer[] }) => {
  if ('close' in msg) {
    builder?.close();
    parentPort!.close();
    return;
  }
  if ('recycle' in msg) {
    builder?.recycle(msg.recycle);
    return;
  }
  if (!builder) return;
  try {
    const b = await builder.build(msg.job);
    const transfer: ArrayBuffer[] = [];
    const own = (t: ArrayTensor) => transfer.push(t.data.buffer as ArrayBuffer);
    for (const t of Object.values(b.features)) own(t);
    if (b.labels) own(b.labels);
    parentPort!.postMessage({ id: msg.id, batch: b }, transfer);
  } catch (e) {
    parentPort!.postMessage({ id: msg.id, error: (e as Error).message, user: (e as { exitCode?: number }).exitCode === 2 });
  }
});
