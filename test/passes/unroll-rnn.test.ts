// Unrolled RNN/GRU/LSTM against ONNX Runtime's own kernels: the same outputs (forward), and gradients of the
// unrolled graph against finite differences of ORT's recurrent op.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { createSession } from '../../src/runtime/index.js';
import { unrollRecurrent, unrollRecurrentModel } from '../../src/passes/unroll-rnn.js';
import { gradcheck, rand } from '../train/gradcheck-util.js';

interface Case {
  op: 'RNN' | 'GRU' | 'LSTM';
  direction?: 'forward' | 'reverse' | 'bidirectional';
  seq?: number;
  batch?: number;
  inputSize?: number;
  hidden?: number;
  bias?: boolean;
  initial?: boolean;
  peepholes?: boolean;
  attrs?: Record<string, number | string[] | number[]>;
  /** Outputs used (Y, Y_h, Y_c). */
  outputs?: boolean[];
}

const GATES = { RNN: 1, GRU: 3, LSTM: 4 };

/** The inputs of a case (name, shape, data) in the recurrent op's input order; absent ones are undefined. */
function caseInputs(c: Case, seed: number) {
  const T = c.seq ?? 5,
    N = c.batch ?? 2,
    I = c.inputSize ?? 3,
    H = c.hidden ?? 4;
  const D = c.direction === 'bidirectional' ? 2 : 1;
  const G = GATES[c.op];
  const mk = (name: string, shape: number[], k: number, scale = 1) => ({
    name,
    shape,
    data: rand(
      shape.reduce((a, b) => a * b, 1),
      seed + k,
      -scale,
      scale,
    ),
  });
  return [
    mk('X', [T, N, I], 1, 2),
    mk('W', [D, G * H, I], 2, 0.8),
    mk('R', [D, G * H, H], 3, 0.8),
    c.bias !== false ? mk('B', [D, 2 * G * H], 4, 0.5) : undefined,
    undefined,
    c.initial ? mk('initial_h', [D, N, H], 5) : undefined,
    c.initial && c.op === 'LSTM' ? mk('initial_c', [D, N, H], 6) : undefined,
    c.peepholes ? mk('P', [D, 3 * H], 7, 0.5) : undefined,
  ];
}

/** Adds the case's recurrent node to `b` over graph inputs; returns its used outputs. */
function addNode(b: GraphBuilder, c: Case): string[] {
  const ins = caseInputs(c, 0).map((i) => i?.name ?? '');
  while (ins.length && !ins[ins.length - 1]) ins.pop();
  const n = c.op === 'LSTM' ? 3 : 2;
  const used = c.outputs ?? Array(n).fill(true);
  const outs = Array.from({ length: n }, (_, i) => (used[i] ? `${c.op}_out${i}` : ''));
  b.opN(
    c.op,
    ins,
    n,
    { hidden_size: c.hidden ?? 4, direction: c.direction ?? 'forward', ...c.attrs },
    { name: `${c.op}_node`, outputs: outs },
  );
  return outs.filter(Boolean);
}

function caseModel(c: Case): ModelProto {
  const b = new GraphBuilder('rnn');
  for (const i of caseInputs(c, 0)) if (i) b.input(i.name, DataType.FLOAT, i.shape);
  for (const o of addNode(b, c)) b.output(o, DataType.FLOAT);
  return b.model({ opset: 17 });
}

function feeds(c: Case, seed: number): Record<string, ort.Tensor> {
  return Object.fromEntries(
    caseInputs(c, seed)
      .filter((i) => i !== undefined)
      .map((i) => [i!.name, new ort.Tensor('float32', i!.data, i!.shape)]),
  );
}

/** Largest |ORT's op − unrolled| over every output, for two sets of inputs. */
async function forwardError(c: Case): Promise<number> {
  const model = caseModel(c);
  const unrolled = unrollRecurrentModel(model);
  assert.equal(unrolled.unrolled, 1);
  assert.ok(!unrolled.model.graph!.node.some((n) => n.opType === c.op), 'the recurrent op is gone');
  const [ref, got] = [await createSession(model, { intraOpThreads: 1 }), await createSession(unrolled.model, { intraOpThreads: 1 })];
  let worst = 0;
  for (const seed of [0, 100]) {
    const f = feeds(c, seed);
    const [a, b] = [await ref.run(f), await got.run(f)];
    for (const name of Object.keys(a)) {
      assert.deepEqual(b[name]!.dims, a[name]!.dims, `${name} dims`);
      const x = a[name]!.data as Float32Array,
        y = b[name]!.data as Float32Array;
      for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
    }
  }
  return worst;
}

const CASES: [string, Case][] = [
  ['LSTM forward, bias, initial states', { op: 'LSTM', initial: true }],
  ['LSTM reverse, no bias, zero states', { op: 'LSTM', direction: 'reverse', bias: false }],
  ['LSTM bidirectional with peepholes', { op: 'LSTM', direction: 'bidirectional', peepholes: true, initial: true }],
  ['LSTM, only Y_h and Y_c used', { op: 'LSTM', initial: true, outputs: [false, true, true] }],
  ['LSTM clip, peepholes', { op: 'LSTM', initial: true, peepholes: true, attrs: { clip: 0.7 } }],
  ['LSTM one step', { op: 'LSTM', seq: 1, initial: true }],
  ['GRU forward', { op: 'GRU', initial: true }],
  ['GRU linear_before_reset, bidirectional', { op: 'GRU', direction: 'bidirectional', initial: true, attrs: { linear_before_reset: 1 } }],
  ['GRU reverse, linear_before_reset, no bias', { op: 'GRU', direction: 'reverse', bias: false, attrs: { linear_before_reset: 1 } }],
  ['GRU activations Sigmoid/Relu', { op: 'GRU', initial: true, attrs: { activations: ['Sigmoid', 'Relu'] } }],
  ['RNN bidirectional', { op: 'RNN', direction: 'bidirectional', initial: true }],
];

describe('unrolled recurrent ops compute what ORT computes', () => {
  for (const [title, c] of CASES) {
    it(title, async (t) => {
      const err = await forwardError(c);
      t.diagnostic(`max abs error ${err.toExponential(2)}`);
      assert.ok(err < 1e-5, `max abs error ${err}`);
    });
  }

  it('refuses what it does not unroll, naming the node and the reason', () => {
    const dyn = caseModel({ op: 'LSTM' });
    dyn.graph!.input[0]!.type!.tensorType!.shape!.dim[0] = { dimParam: 'frames' };
    assert.throws(
      () => unrollRecurrentModel(dyn),
      /LSTM node 'LSTM_node': cannot train through it: .*sequence.*not known statically.*--shape or --dim/,
    );
    assert.throws(() => unrollRecurrentModel(caseModel({ op: 'LSTM', attrs: { input_forget: 1 } })), /input_forget=1/);
    assert.throws(() => unrollRecurrentModel(caseModel({ op: 'GRU', attrs: { layout: 1 } })), /layout 1/);
    assert.throws(
      () => unrollRecurrentModel(caseModel({ op: 'GRU', attrs: { activations: ['Sigmoid', 'Softsign'] } })),
      /activation Softsign is not supported in training/,
    );
  });
});

describe("gradients of the unrolled ops agree with finite differences of ORT's op", () => {
  const grad = async (c: Case) => {
    const inputs = caseInputs({ ...c, seq: c.seq ?? 3 }, 0)
      .filter((i) => i !== undefined)
      .map((i) => i!);
    let calls = 0;
    // The first graph (finite differences) keeps ORT's recurrent op; the second (differentiated) is unrolled.
    return gradcheck(
      inputs,
      (b) => {
        const outs = addNode(b, { ...c, seq: c.seq ?? 3 });
        if (calls++ > 0) {
          const taken = new Set([...b.graph.node.flatMap((n) => [...n.input, ...n.output]), ...b.graph.input.map((i) => i.name!)]);
          unrollRecurrent(b.graph, 17, taken);
        }
        return outs;
      },
      { maxChecks: 12 },
    );
  };
  for (const [title, c] of [
    ['LSTM bidirectional, peepholes, initial states', { op: 'LSTM', direction: 'bidirectional', peepholes: true, initial: true }],
    ['LSTM reverse, no bias, zero states', { op: 'LSTM', direction: 'reverse', bias: false }],
    ['GRU forward', { op: 'GRU', initial: true }],
    ['GRU linear_before_reset, bidirectional', { op: 'GRU', direction: 'bidirectional', initial: true, attrs: { linear_before_reset: 1 } }],
    ['RNN forward', { op: 'RNN', initial: true }],
  ] as [string, Case][]) {
    it(title, async (t) => {
      const points = await grad(c);
      assert.ok(points.length > 30, `${points.length} points checked`);
      const worst = Math.max(...points.map((p) => Math.abs(p.analytic - p.numeric)));
      t.diagnostic(`${points.length} points, worst |analytic - numeric| ${worst.toExponential(2)}`);
      assert.ok(worst < 1e-2, `worst error ${worst}`);
    });
  }
});
