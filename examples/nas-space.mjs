// A search space in code for `hone nas --space examples/nas-space.mjs`: what a YAML space cannot say.
// Here two model families compete in one search, each sized by the same options: an MLP of `depth`
// hidden layers of `width`, or a LeNet-style CNN whose convolutions scale with `width` and whose
// classifier has `depth` layers.
//
// `space`: each option a list of choices or a range ({ type: 'int', low, high } or 'float').
// `model(options, { zoo, GraphBuilder, DataType })`: the ONNX model of one architecture — from Hone's zoo
// as here, or any graph built with GraphBuilder.
// `reference` (optional): trained first, so the answer is compared with it in the same run.
export const space = {
  family: ['mlp', 'cnn'],
  width: [32, 64, 128],
  depth: { type: 'int', low: 1, high: 2 },
};

export const reference = { family: 'cnn', width: 64, depth: 2 };

export function model(o, { zoo }) {
  const layers = Array.from({ length: o.depth }, () => o.width).join('-');
  if (o.family === 'mlp') return zoo(`mlp:hidden=${layers}`);
  return zoo(`lenet5:channels=${o.width / 8}-${o.width / 4},fc=${layers}`);
}
