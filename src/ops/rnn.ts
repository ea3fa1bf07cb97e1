/**
 * Recurrent layers: RNN, GRU, LSTM (layout 0: [seq, batch, …]; layout 1: [batch, seq, …]).
 * Cost per step, batch row and direction: gates*hidden*(input + hidden) MACs for the two matmuls, plus a
 * few flops per gate element for the activations.
 */
import type { Cost, Dim, OpContext, OpRule, ValueType } from './types.js';
import { fail, input, ioBytes, shapeStr } from './util.js';

const gatesOf: Record<string, number> = { RNN: 1, GRU: 3, LSTM: 4 };

interface RnnDims {
  seq: Dim;
  batch: Dim;
  inputSize: Dim;
  hidden: Dim;
  dirs: number;
}

function rnnDims(ctx: OpContext): RnnDims | undefined {
  const x = input(ctx, 0).shape;
  const r = ctx.inputs[2]?.shape;
  const dirs = ctx.attr.string('direction', 'forward') === 'bidirectional' ? 2 : 1;
  const hidden: Dim = ctx.attr.int('hidden_size') ?? r?.[2] ?? ctx.freshDim();
  if (!x) return undefined;
  if (x.length !== 3) fail(`${ctx.node.opType} input must be 3-D, got ${shapeStr(x)}`);
  const layout = ctx.attr.int('layout', 0);
  const [seq, batch] = layout === 0 ? [x[0]!, x[1]!] : [x[1]!, x[0]!];
  const w = ctx.inputs[1]?.shape;
  const gates = gatesOf[ctx.node.opType!]!;
  if (w && typeof w[1] === 'number' && typeof hidden === 'number' && w[1] !== gates * hidden) {
    fail(`${ctx.node.opType} weight ${shapeStr(w)} does not hold ${gates} gates of hidden size ${hidden}`);
  }
  return { seq, batch, inputSize: x[2]!, hidden, dirs };
}

const rnn: OpRule = {
  opTypes: ['RNN', 'GRU', 'LSTM'],
  infer: (ctx) => {
    const elemType = input(ctx, 0).elemType;
    const d = rnnDims(ctx);
    const layout = ctx.attr.int('layout', 0);
    return ctx.node.output.map((_, i): ValueType => {
      if (!d) return { elemType };
      if (i === 0) return { elemType, shape: layout === 0 ? [d.seq, d.dirs, d.batch, d.hidden] : [d.batch, d.seq, d.dirs, d.hidden] };
      return { elemType, shape: layout === 0 ? [d.dirs, d.batch, d.hidden] : [d.batch, d.dirs, d.hidden] };
    });
  },
  cost: (ctx, outputs): Cost => {
    const d = rnnDims(ctx);
    const n = (x: Dim | undefined) => (typeof x === 'number' ? x : 1);
    if (!d) return { macs: 0, flops: 0, ...ioBytes(ctx, outputs) };
    const gates = gatesOf[ctx.node.opType!]!;
    const steps = n(d.seq) * n(d.batch) * d.dirs;
    const macs = steps * gates * n(d.hidden) * (n(d.inputSize) + n(d.hidden));
    return { macs, flops: 2 * macs + steps * gates * n(d.hidden) * 5, ...ioBytes(ctx, outputs) };
  },
};

export const rnnOps: OpRule[] = [rnn];
