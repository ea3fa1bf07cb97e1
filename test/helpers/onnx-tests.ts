import { existsSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * ONNX's backend test data, read in place: $HONE_ONNX_TESTS, else ../shared/onnx-tests beside the checkout
 * (where CI lays it), else the development workspace's /work/shared/onnx-tests.
 */
export const ONNX_TESTS =
  [
    process.env.HONE_ONNX_TESTS,
    join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'onnx-tests'),
    '/work/shared/onnx-tests',
  ].find((d): d is string => d !== undefined && existsSync(d)) ??
  join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'onnx-tests');

export interface OnnxTestCase {
  name: string;
  dir: string;
  model: string;
  /** test_data_set_* folders */
  dataSets: string[];
}

export function onnxTestCases(): OnnxTestCase[] {
  if (!existsSync(ONNX_TESTS)) return [];
  const out: OnnxTestCase[] = [];
  for (const suite of readdirSync(ONNX_TESTS).sort()) {
    const root = join(ONNX_TESTS, suite);
    if (!existsSync(root) || suite.endsWith('.md')) continue;
    for (const name of readdirSync(root).sort()) {
      const dir = join(root, name);
      const model = join(dir, 'model.onnx');
      if (!existsSync(model)) continue;
      out.push({
        name: `${suite}/${name}`,
        dir,
        model,
        dataSets: readdirSync(dir)
          .filter((d) => d.startsWith('test_data_set'))
          .sort()
          .map((d) => join(dir, d)),
      });
    }
  }
  return out;
}
