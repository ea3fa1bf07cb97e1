/**
 * ORT's errors from running a training step or an evaluation, as one-line HoneErrors: which node failed
 * (forward, loss or backward), what ORT said without its C++ noise, and the likely cause in the model or
 * the data. A step that fails at run time almost always does so because of something the exported graph
 * fixed (a batch size written into a Reshape) or an input fed in a shape the graph does not take.
 */
import { HoneError, badInput, errorMessage } from '../errors.js';
import { cleanOrtMessage } from '../runtime/index.js';

export function trainingRunError(e: unknown, what: string, batch: number): HoneError {
  if (e instanceof HoneError) return e;
  const raw = errorMessage(e).replace(/\s+/g, ' ');
  const input = /invalid dimensions for input: (\S+) for the following indices index: (\d+) Got: (\d+) Expected: (\d+)/i.exec(raw);
  if (input) {
    const [, name, dim, got, want] = input;
    const cause =
      dim === '0'
        ? `training feeds samples along dim 0, so a model input whose dim 0 is not the batch (a recurrent state [layers, batch, …]) cannot come from the data; give it a fixed value (--input ${name}=0)`
        : `feed data shaped like the model's input (--shape ${name}=…)`;
    return badInput(`${what}: model input '${name}' has ${want} at dim ${dim} but was fed ${got}; ${cause}`, e);
  }
  const run = /running (\S+) node\. Name:'([^']*)' Status Message: (.*)$/.exec(raw);
  if (!run)
    return badInput(
      `${what}: onnxruntime failed: ${shorten(cleanOrtMessage(raw))}; check the inputs' shapes and values (--shape, --input)`,
      e,
    );
  const [, op, node, status] = run;
  const where = /^(grad|loss)\//.test(node!)
    ? `the ${node!.startsWith('loss/') ? 'loss' : 'backward pass'} (node '${node}', ${op})`
    : `node '${node}' (${op})`;
  const shapeError = /shape|dimension|broadcast|size/i.test(status!);
  const cause = shapeError
    ? `the exported graph likely hard-codes a batch size or input shape there (this step ran a batch of ${batch}); train with the batch size the model was exported for (--batch-size, --micro-batch) or re-export it with a dynamic batch`
    : "check the inputs' shapes and values (--shape, --input)";
  return badInput(`${what} failed in ${where}: ${shorten(essential(status!))}; ${cause}`, e);
}

/** ORT's status message without source paths, C++ signatures and the failed check's expression. */
function essential(status: string): string {
  let m = cleanOrtMessage(status);
  // "ns::Class::Fn(args) a == b was false. The input tensor …" → "The input tensor …"
  const check = /\bwas false\.\s*(.*)$/.exec(m);
  if (check?.[1]) m = check[1];
  m = m.replace(/^[\w:~<>]+\([^)]*\)\s*/, '');
  return m.trim().replace(/[.\s]+$/, '');
}

function shorten(s: string, n = 240): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}
