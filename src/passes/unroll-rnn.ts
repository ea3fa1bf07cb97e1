/**
 * Unrolls RNN, GRU and LSTM nodes over their (static) sequence length into standard ops — MatMul, Add,
 * Sigmoid/Tanh/Relu, Mul, Split, Squeeze/Unsqueeze, Concat — whose gradient rules already exist, so a
 * recurrent model trains through the same autodiff as everything else. The unrolled graph reads the
 * node's own W, R, B, P, initial_h and initial_c by name: the trained initializers are the recurrent op's
 * parameters in ONNX's layouts, and the exported model keeps its LSTM/GRU (only the training graph is
 * unrolled).
 *
 * What ONNX's recurrent ops compute (gate orders: LSTM i,o,f,c; GRU z,r,h; peepholes i,o,f), per direction
 * and step, with f/g/h the activations (defaults Sigmoid, Tanh, Tanh):
 * - RNN:  H = f(x·Wᵀ + H·Rᵀ + Wb + Rb)
 * - GRU:  z = f(x·Wzᵀ + H·Rzᵀ + Wbz + Rbz), r likewise, h = g(x·Whᵀ + (r ⊙ H)·Rhᵀ + Rbh + Wbh), or with
 *         linear_before_reset h = g(x·Whᵀ + r ⊙ (H·Rhᵀ + Rbh) + Wbh); H = (1 − z) ⊙ h + z ⊙ H
 * - LSTM: i = f(x·Wiᵀ + H·Riᵀ + Pi ⊙ C + b), f likewise with Pf, c̃ = g(…), C = f ⊙ C + i ⊙ c̃,
 *         o = f(x·Woᵀ + H·Roᵀ + Po ⊙ C + b), H = o ⊙ h(C)
 * `clip` bounds every gate's input before its activation. The input projection of all steps is one MatMul
 * over the whole sequence; each step adds one MatMul of the state.
 *
 * Not unrolled (a one-line refusal names the node and the attribute): a sequence length unknown statically,
 * sequence_lens shorter than the sequence, LSTM input_forget, activations other than Sigmoid/Tanh/Relu,
 * layout 1 (batch first), which ONNX Runtime does not run either.
 */
import { badInput } from '../errors.js';
import { makeModel } from '../ir/builder.js';
import { DataType } from '../ir/dtype.js';
import type { GraphProto, ModelProto, NodeProto } from '../ir/proto.js';
import { makeTensor, tensorNumbers } from '../ir/tensor.js';
import { GradEmitter } from '../ops/grad/emit.js';
import { attrReader } from '../ir/attrs.js';
import { inferShapes, type ShapeInference } from '../ops/infer.js';

export const RECURRENT_OPS: ReadonlySet<string> = new Set(['RNN', 'GRU', 'LSTM']);

/** Activations per direction and their defaults, in the order the `activations` attribute lists them. */
const DEFAULT_ACTIVATIONS: Record<string, string[]> = { RNN: ['Tanh'], GRU: ['Sigmoid', 'Tanh'], LSTM: ['Sigmoid', 'Tanh', 'Tanh'] };
const GATES: Record<string, number> = { RNN: 1, GRU: 3, LSTM: 4 };
const SUPPORTED_ACTIVATIONS = new Set(['Sigmoid', 'Tanh', 'Relu']);

/** `model` with every recurrent node of its main graph unrolled (a copy; `model` is unchanged). Needs opset ≥ 13. */
export function unrollRecurrentModel(model: ModelProto): { model: ModelProto; unrolled: number } {
  const opset = model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 1;
  const graph: GraphProto = { ...model.graph!, node: [...model.graph!.node], initializer: [...model.graph!.initializer] };
  const unrolled = unrollRecurrent(graph, opset, graphNames(graph));
  return { model: { ...model, graph }, unrolled };
}

/**
 * Replaces the RNN/GRU/LSTM nodes of `graph` (in place) by their unrolled form; returns how many there were.
 * `taken` holds every name in use (new names are added to it).
 */
export function unrollRecurrent(graph: GraphProto, opset: number, taken: Set<string>): number {
  if (!graph.node.some(isRecurrent)) return 0;
  if (opset < 13)
    throw badInput(
      `unrolling a recurrent op needs opset 13 or later (Split and Squeeze with their sizes as inputs); the graph has ${opset}`,
    );
  const inf = inferShapes(makeModel(graph, { opset, irVersion: 8 }));
  const nodes: NodeProto[] = [];
  let count = 0;
  for (const node of graph.node) {
    if (!isRecurrent(node)) {
      nodes.push(node);
      continue;
    }
    const emit = new GradEmitter(taken, opset, `${node.name || node.output[0]}/unrolled`);
    new Unroller(node, inf, emit).run();
    nodes.push(...emit.nodes);
    graph.initializer.push(...emit.initializers);
    count++;
  }
  graph.node = nodes;
  return count;
}

function isRecurrent(n: NodeProto): boolean {
  return RECURRENT_OPS.has(n.opType ?? '') && (n.domain ?? '') === '';
}

class Unroller {
  private readonly op: string;
  private readonly label: string;
  private readonly a: ReturnType<typeof attrReader>;

  constructor(
    private readonly node: NodeProto,
    private readonly inf: ShapeInference,
    private readonly emit: GradEmitter,
  ) {
    this.op = node.opType!;
    this.label = `${this.op} node '${node.name || node.output[0]}'`;
    this.a = attrReader(node);
  }

  run(): void {
    const { node, emit, a, op } = this;
    const [x0, w, r, b, seqLens, h0In, c0In, p] = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => node.input[i] || undefined);
    if (a.int('layout', 0) !== 0) throw this.refuse('layout 1 (batch first) is not supported; ONNX Runtime does not run it either');
    const dirName = a.string('direction', 'forward');
    if (!['forward', 'reverse', 'bidirectional'].includes(dirName))
      throw this.refuse(`direction '${dirName}' is not one of forward, reverse, bidirectional`);
    const dirs = dirName === 'bidirectional' ? 2 : 1;
    const xShape = this.inf.types.get(x0!)?.shape;
    if (xShape?.length !== 3) throw this.refuse(`the rank of its input '${x0}' is not known; give the model input shapes (--shape)`);
    const steps = xShape[0];
    if (typeof steps !== 'number') {
      throw this.refuse(
        `training unrolls it over the sequence, whose length is not known statically ('${x0}' is [${xShape.join(', ')}]); fix that dim with --shape or --dim`,
      );
    }
    const rShape = this.inf.types.get(r!)?.shape;
    const hidden = a.int('hidden_size') ?? (typeof rShape?.[2] === 'number' ? rShape[2] : undefined);
    if (hidden === undefined) throw this.refuse('its hidden size is not known (no hidden_size attribute, R of unknown shape)');
    if (op === 'LSTM' && a.int('input_forget', 0) !== 0)
      throw this.refuse('input_forget=1 (coupled input and forget gates) is not supported in training');
    if (seqLens) {
      const lens = this.inf.constants.get(seqLens);
      if (!lens || tensorNumbers(lens).some((v) => v !== steps)) {
        throw this.refuse(
          `sequence_lens '${seqLens}' is not a constant equal to the sequence length ${steps}; training unrolls whole sequences (drop sequence_lens or pad every sequence to ${steps})`,
        );
      }
    }
    const activations = this.activations(dirs);
    const clip = a.float('clip');

    const x = x0!;
    const [ws, rs, bs, h0s, c0s, ps] = [w, r, b, h0In, c0In, p].map((v) => (v ? this.perDirection(v, dirs) : undefined));
    // Zeros [batch, hidden] for absent initial states; the batch is X's dim 1.
    const zeros = () =>
      emit.op(
        'ConstantOfShape',
        [emit.op('Concat', [emit.op('Slice', [emit.shapeOf(x), emit.ints([1]), emit.ints([2])]), emit.ints([hidden])], { axis: 0 })],
        {
          value: makeTensor('value', DataType.FLOAT, [1], Float32Array.of(0)),
        },
      );

    const ys: string[] = [];
    const hLast: string[] = [];
    const cLast: string[] = [];
    for (let d = 0; d < dirs; d++) {
      const reverse = dirName === 'reverse' || d === 1;
      const cell: Cell = {
        wT: emit.op('Transpose', [ws![d]!], { perm: [1, 0] }),
        rT: emit.op('Transpose', [rs![d]!], { perm: [1, 0] }),
        wb: undefined,
        rb: undefined,
        p: ps?.[d],
        hidden,
        clip,
        act: activations[d]!,
      };
      if (bs) [cell.wb, cell.rb] = emit.opN('Split', [bs[d]!, emit.ints([GATES[op]! * hidden, GATES[op]! * hidden])], 2, { axis: 0 });
      // The input projection of every step at once: [T, N, G·H], with the biases that sit outside the gates' products.
      const lbr = op === 'GRU' && a.int('linear_before_reset', 0) !== 0;
      let xw = emit.op('MatMul', [x, cell.wT]);
      if (cell.wb) xw = emit.add(xw, lbr ? cell.wb : emit.add(cell.wb, cell.rb!));
      const xs = steps === 1 ? [xw] : emit.opN('Split', [xw, emit.ints(Array(steps).fill(1))], steps, { axis: 0 });
      let h = h0s?.[d] ?? zeros();
      let c = op === 'LSTM' ? (c0s?.[d] ?? zeros()) : undefined;
      const outs: string[] = new Array(steps);
      for (let k = 0; k < steps; k++) {
        const t = reverse ? steps - 1 - k : k;
        const xt = emit.op('Squeeze', [xs[t]!, emit.ints([0])]);
        if (op === 'LSTM') [h, c] = this.lstmStep(cell, xt, h, c!);
        else if (op === 'GRU') h = this.gruStep(cell, xt, h, lbr);
        else h = this.activate(cell.act[0]!, emit.add(xt, emit.op('MatMul', [h, cell.rT])), clip);
        outs[t] = h;
      }
      if (node.output[0])
        ys.push(
          emit.op(
            'Concat',
            outs.map((o) => emit.unsqueeze(o, [0])),
            { axis: 0 },
          ),
        );
      hLast.push(h);
      if (c) cLast.push(c);
    }
    // Y [T, D, N, H], Y_h and Y_c [D, N, H].
    const stack = (parts: string[], axis: number) =>
      parts.length === 1
        ? emit.unsqueeze(parts[0]!, [axis])
        : emit.op(
            'Concat',
            parts.map((v) => emit.unsqueeze(v, [axis])),
            { axis },
          );
    const results = [
      node.output[0] ? stack(ys, 1) : undefined,
      node.output[1] ? stack(hLast, 0) : undefined,
      node.output[2] && cLast.length ? stack(cLast, 0) : undefined,
    ];
    results.forEach((v, i) => {
      if (!v) return;
      emit.nodes.push({
        input: [v],
        output: [node.output[i]!],
        opType: 'Identity',
        name: emit.fresh('output'),
        attribute: [],
        metadataProps: [],
        deviceConfigurations: [],
      });
    });
  }

  /** One LSTM step: the new hidden and cell states. */
  private lstmStep(cell: Cell, xt: string, h: string, c: string): [string, string] {
    const { emit } = this;
    const [f, g, hAct] = cell.act as [string, string, string];
    const [pi, po, pf] = cell.p ? emit.opN('Split', [cell.p, emit.ints([cell.hidden, cell.hidden, cell.hidden])], 3, { axis: 0 }) : [];
    const pre = emit.add(xt, emit.op('MatMul', [h, cell.rT]));
    let [i, o, fg, cc] = emit.opN('Split', [pre, emit.ints(Array(4).fill(cell.hidden))], 4, { axis: 1 }) as [
      string,
      string,
      string,
      string,
    ];
    if (pi) {
      i = emit.add(i, emit.mul(pi, c));
      fg = emit.add(fg, emit.mul(pf!, c));
    }
    const cNew = emit.add(
      emit.mul(this.activate(f, fg, cell.clip), c),
      emit.mul(this.activate(f, i, cell.clip), this.activate(g, cc, cell.clip)),
    );
    if (po) o = emit.add(o, emit.mul(po, cNew));
    return [emit.mul(this.activate(f, o, cell.clip), this.activate(hAct, cNew)), cNew];
  }

  /** One GRU step: the new hidden state. */
  private gruStep(cell: Cell, xt: string, h: string, lbr: boolean): string {
    const { emit } = this;
    const H = cell.hidden;
    const [f, g] = cell.act as [string, string];
    const [xzr, xh] = emit.opN('Split', [xt, emit.ints([2 * H, H])], 2, { axis: 1 }) as [string, string];
    let hzr: string;
    let hh: string;
    if (lbr) {
      let hr = emit.op('MatMul', [h, cell.rT]);
      if (cell.rb) hr = emit.add(hr, cell.rb);
      [hzr, hh] = emit.opN('Split', [hr, emit.ints([2 * H, H])], 2, { axis: 1 }) as [string, string];
    } else {
      const [rzrT, rhT] = emit.opN('Split', [cell.rT, emit.ints([2 * H, H])], 2, { axis: 1 }) as [string, string];
      hzr = emit.op('MatMul', [h, rzrT]);
      hh = rhT;
    }
    const [z, r] = emit.opN('Split', [this.activate(f, emit.add(xzr, hzr), cell.clip), emit.ints([H, H])], 2, { axis: 1 }) as [
      string,
      string,
    ];
    const gate = lbr ? emit.mul(r, hh) : emit.op('MatMul', [emit.mul(r, h), hh]);
    const cand = this.activate(g, emit.add(xh, gate), cell.clip);
    // (1 − z) ⊙ h̃ + z ⊙ H
    return emit.add(cand, emit.mul(z, emit.sub(h, cand)));
  }

  private activate(kind: string, v: string, clip?: number): string {
    const { emit } = this;
    const input = clip === undefined ? v : emit.op('Clip', [v, emit.scalar(-clip), emit.scalar(clip)]);
    return emit.op(kind, [input]);
  }

  /** The activations of each direction, checked against what training supports. */
  private activations(dirs: number): string[][] {
    const per = DEFAULT_ACTIVATIONS[this.op]!;
    const given = this.a.raw('activations')?.strings.map((s) => new TextDecoder().decode(s));
    const list = given && given.length > 0 ? given : Array.from({ length: dirs }, () => per).flat();
    if (list.length !== per.length * dirs) throw this.refuse(`it lists ${list.length} activations, ${per.length * dirs} expected`);
    const canonical = list.map((name) => [...SUPPORTED_ACTIVATIONS].find((s) => s.toLowerCase() === name.toLowerCase()));
    const bad = list.find((_, i) => !canonical[i]);
    if (bad) throw this.refuse(`activation ${bad} is not supported in training (only ${[...SUPPORTED_ACTIVATIONS].join(', ')})`);
    return Array.from({ length: dirs }, (_, d) => canonical.slice(d * per.length, (d + 1) * per.length) as string[]);
  }

  /** A [D, …] tensor as D tensors without the leading dim. */
  private perDirection(v: string, dirs: number): string[] {
    const { emit } = this;
    const parts = dirs === 1 ? [v] : emit.opN('Split', [v, emit.ints([1, 1])], 2, { axis: 0 });
    return parts.map((q) => emit.op('Squeeze', [q, emit.ints([0])]));
  }

  private refuse(why: string) {
    return badInput(`${this.label}: cannot train through it: ${why}`);
  }
}

interface Cell {
  wT: string;
  rT: string;
  wb: string | undefined;
  rb: string | undefined;
  p: string | undefined;
  hidden: number;
  clip: number | undefined;
  act: string[];
}

function graphNames(g: GraphProto): Set<string> {
  const s = new Set<string>();
  for (const v of [...g.input, ...g.output, ...g.valueInfo]) s.add(v.name!);
  for (const t of g.initializer) s.add(t.name!);
  for (const n of g.node) {
    for (const x of [...n.input, ...n.output]) s.add(x);
    if (n.name) s.add(n.name);
  }
  return s;
}
