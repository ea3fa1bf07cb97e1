/**
 * Sparse initializers (GraphProto.sparse_initializer): the non-zero values of a tensor and their positions.
 * ONNX Runtime turns them into dense tensors when it loads a model, so they only save disk; Hone does the
 * same on load (every pass sees ordinary initializers) and writes them for pruned weights where the file
 * gets smaller. Indices are int64 positions in the flattened tensor ([NNZ]), the form the spec defines.
 */
import { DataType } from './dtype.js';
import type { GraphProto, ModelProto, SparseTensorProto, TensorProto } from './proto.js';
import { makeTensor, numElements, tensorArray } from './tensor.js';

/** Bytes a float32 tensor of `elements` with `nonZero` non-zeros takes dense and sparse (values + int64 indices). */
export function sparseBytes(elements: number, nonZero: number): { dense: number; sparse: number } {
  return { dense: 4 * elements, sparse: 12 * nonZero };
}

/**
 * `model` with the named float32 initializers stored sparse wherever that is smaller (fewer than a third of
 * the entries non-zero); returns the model and the names stored sparse.
 */
export function withSparseInitializers(model: ModelProto, names: Iterable<string>): { model: ModelProto; sparse: string[] } {
  const g = model.graph!;
  const wanted = new Set(names);
  const sparse: SparseTensorProto[] = [];
  const kept: TensorProto[] = [];
  for (const t of g.initializer) {
    if (!wanted.has(t.name!) || t.dataType !== DataType.FLOAT) {
      kept.push(t);
      continue;
    }
    const v = tensorArray(t) as Float32Array;
    let nnz = 0;
    for (let i = 0; i < v.length; i++) if (v[i] !== 0) nnz++;
    const size = sparseBytes(v.length, nnz);
    if (size.sparse >= size.dense) {
      kept.push(t);
      continue;
    }
    const values = new Float32Array(nnz);
    const indices = new BigInt64Array(nnz);
    for (let i = 0, k = 0; i < v.length; i++)
      if (v[i] !== 0) {
        values[k] = v[i]!;
        indices[k++] = BigInt(i);
      }
    sparse.push({
      values: makeTensor(t.name!, DataType.FLOAT, [nnz], values),
      indices: makeTensor(`${t.name}_indices`, DataType.INT64, [nnz], indices),
      dims: t.dims.map(Number),
    });
  }
  if (sparse.length === 0) return { model, sparse: [] };
  return {
    model: { ...model, graph: { ...g, initializer: kept, sparseInitializer: [...g.sparseInitializer, ...sparse] } },
    sparse: sparse.map((s) => s.values!.name!),
  };
}

/** Every sparse initializer of `graph` (and its subgraphs) made dense, in place: what ORT does on load. */
export function densifySparseInitializers(graph: GraphProto): void {
  for (const s of graph.sparseInitializer) graph.initializer.push(denseTensor(s));
  graph.sparseInitializer = [];
  for (const n of graph.node) for (const a of n.attribute) for (const sub of [a.g, ...a.graphs]) if (sub) densifySparseInitializers(sub);
}

/** The dense tensor a sparse one stands for: indices are linear ([NNZ]) or coordinates ([NNZ, rank]). */
export function denseTensor(s: SparseTensorProto): TensorProto {
  const values = s.values!;
  const dims = s.dims.map(Number);
  const total = numElements(dims);
  const vals = tensorArray(values);
  const Ctor = vals.constructor as new (n: number) => typeof vals;
  const out = new Ctor(total);
  const idx = s.indices ? Array.from(tensorArray(s.indices) as ArrayLike<number | bigint>, Number) : [];
  const nnz = vals.length;
  const rank = dims.length;
  const coords = s.indices && s.indices.dims.length === 2;
  for (let k = 0; k < nnz; k++) {
    let at = idx[k]!;
    if (coords) {
      at = 0;
      for (let d = 0; d < rank; d++) at = at * dims[d]! + idx[k * rank + d]!;
    }
    if (!(at >= 0 && at < total)) throw new RangeError(`sparse initializer '${values.name}': index ${at} is outside its ${total} entries`);
    (out as unknown as number[])[at] = (vals as unknown as number[])[k]!;
  }
  return makeTensor(values.name!, values.dataType!, dims, out);
}
