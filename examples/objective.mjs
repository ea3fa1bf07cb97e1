// A stand-in for a training script, speaking `hone tune`'s command protocol: parameters arrive as
// HONE_PARAM_<NAME> environment variables; each line {"step", "value"} reports an intermediate validation
// loss (the pruner may stop the run), and {"value"} is the result. Best near lr = 3e-3, 2 layers, relu.
const lr = Number(process.env.HONE_PARAM_LR);
const layers = Number(process.env.HONE_PARAM_LAYERS);
const act = process.env.HONE_PARAM_ACT; // strings arrive as is, numbers as JSON
const floor = (Math.log10(lr) - Math.log10(3e-3)) ** 2 * 0.1 + (layers - 2) ** 2 * 0.02 + (act === 'relu' ? 0 : 0.05);
let loss = 2;
for (let epoch = 1; epoch <= 5; epoch++) {
  loss = floor + (loss - floor) * 0.5;
  console.log(JSON.stringify({ step: epoch, value: loss }));
}
console.log(JSON.stringify({ value: loss }));
