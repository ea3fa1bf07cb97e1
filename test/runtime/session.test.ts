import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { loadModel } from '../../src/ir/model.js';
import { HoneError } from '../../src/errors.js';
import { encodeModel } from '../../src/ir/codec.js';
import { checkProvider, GPU_INSTALL_PLATFORM, gpuInstallCommand, listProviders } from '../../src/runtime/providers.js';
import { cleanOrtMessage, createSession, sessionOptions } from '../../src/runtime/session.js';
import { fixDims } from '../../src/runtime/inputs.js';
import { tinyMlp, unknownOpModel } from './helpers.js';

const require = createRequire(import.meta.url);
const oneLine = (e: unknown) => e instanceof HoneError && e.exitCode === 2 && !e.message.includes('\n');

test('createSession runs a model given as a ModelProto or as bytes, with options', async () => {
  const m = fixDims(tinyMlp(), { dims: { batch: 2 } });
  for (const input of [m, encodeModel(m)]) {
    const s = await createSession(input, { intraOpThreads: 1, graphOptimizationLevel: 'basic' });
    assert.deepEqual(s.inputNames, ['x']);
    assert.deepEqual(s.outputNames, ['y']);
    await s.release();
  }
  const o = sessionOptions({
    intraOpThreads: 2,
    interOpThreads: 1,
    graphOptimizationLevel: 'disabled',
    profilePrefix: '/tmp/p',
    enableMemPattern: false,
  });
  assert.deepEqual(o.executionProviders, ['cpu']);
  assert.equal(o.intraOpNumThreads, 2);
  assert.equal(o.graphOptimizationLevel, 'disabled');
  assert.equal(o.enableProfiling, true);
  assert.equal(o.profileFilePrefix, '/tmp/p');
  assert.equal(o.enableMemPattern, false);
});

test('disabledOptimizers turns ORT fusions off: Add + LayerNormalization stays unfused, with the same outputs', async () => {
  const b = new GraphBuilder('skip');
  const x = b.input('x', DataType.FLOAT, [2, 2, 8]);
  const r = b.input('r', DataType.FLOAT, [2, 2, 8]);
  const gamma = b.floatInit(
    'gamma',
    [8],
    Float32Array.from({ length: 8 }, (_, i) => 1 + i / 10),
  );
  const beta = b.floatInit(
    'beta',
    [8],
    Float32Array.from({ length: 8 }, (_, i) => i / 20),
  );
  b.op('LayerNormalization', [b.op('Add', [x, r]), gamma, beta], { axis: -1, epsilon: 1e-5 }, { output: 'y' });
  b.output('y', DataType.FLOAT, [2, 2, 8]);
  const bytes = encodeModel(b.model());
  assert.deepEqual(sessionOptions({}).extra, undefined);
  assert.deepEqual(sessionOptions({ disabledOptimizers: ['SkipLayerNormFusion', 'GeluFusion'] }).extra, {
    optimization: { disable_specified_optimizers: 'SkipLayerNormFusion,GeluFusion' },
  });
  const dir = mkdtempSync(join(tmpdir(), 'hone-session-'));
  const feeds = {
    x: new ort.Tensor(
      'float32',
      Float32Array.from({ length: 32 }, (_, i) => Math.sin(i)),
      [2, 2, 8],
    ),
    r: new ort.Tensor(
      'float32',
      Float32Array.from({ length: 32 }, (_, i) => Math.cos(i)),
      [2, 2, 8],
    ),
  };
  const ran: { ops: string[]; y: Float32Array }[] = [];
  for (const disabledOptimizers of [undefined, ['SkipLayerNormFusion']]) {
    const path = join(dir, `${disabledOptimizers ? 'off' : 'on'}.onnx`);
    const s = await ort.InferenceSession.create(bytes, { ...sessionOptions({ disabledOptimizers }), optimizedModelFilePath: path });
    const y = (await s.run(feeds)).y!.data as Float32Array;
    await s.release();
    ran.push({ ops: loadModel(path).graph!.node!.map((n) => n.opType!), y });
  }
  assert.deepEqual(ran[0]!.ops, ['SkipLayerNormalization']);
  assert.deepEqual(ran[1]!.ops, ['Add', 'LayerNormalization']);
  for (let i = 0; i < 32; i++) assert.ok(Math.abs(ran[0]!.y[i]! - ran[1]!.y[i]!) < 1e-5);
});

test('bytes that are not a model give a one-line HoneError', async () => {
  await assert.rejects(
    createSession(new Uint8Array([1, 2, 3, 4, 5])),
    (e: unknown) => oneLine(e) && /cannot parse the model/.test((e as Error).message),
  );
});

test('an op ORT has no kernel for gives a one-line HoneError naming the op', async () => {
  await assert.rejects(createSession(unknownOpModel()), (e: unknown) => {
    assert.ok(oneLine(e), String(e));
    assert.match((e as Error).message, /no kernel for op 'FrobnicateTensor' at opset 21/);
    return true;
  });
});

test('providers: cpu is available; unknown and uninstalled ones explain what to do', () => {
  const all = listProviders();
  assert.ok(all.some((p) => p.name === 'cpu' && p.available));
  assert.equal(checkProvider('CPU'), 'cpu');
  assert.throws(
    () => checkProvider('tpu'),
    (e: unknown) => oneLine(e) && /provider 'tpu' is not supported.*use one of: cpu/.test((e as Error).message),
  );
  const cuda = all.find((p) => p.name === 'cuda');
  if (cuda && !cuda.available) {
    assert.throws(
      () => checkProvider('cuda'),
      (e: unknown) => oneLine(e) && /not installed/.test((e as Error).message) && (e as Error).message.includes(gpuInstallCommand()),
    );
  }
});

test("the GPU install command is onnxruntime-node's own script with a flag it parses as CUDA 12", () => {
  const [, script, flag] = /^node ("[^"]+"|\S+) (\S+)$/.exec(gpuInstallCommand())!.map((x) => x.replace(/^"(.*)"$/, '$1'));
  assert.ok(existsSync(script!), script);
  // The script's own flag parser (install.js calls it first), fed the documented argv with no environment
  // override, must ask for 'cuda12' (its newer spelling, --onnxruntime-node-install=cuda12, parses to nothing in
  // onnxruntime-node 1.30). ONNXRUNTIME_NODE_INSTALL=skip, the README's way to install offline, must parse to a skip.
  const utils = join(dirname(script!), 'install-utils.js');
  assert.match(readFileSync(script!, 'utf8'), /const INSTALL_FLAG = parseInstallFlag\(\);/);
  const parse = (argv: string[], extraEnv: Record<string, string> = {}) => {
    const probe = `process.argv.push(...${JSON.stringify(argv)}); console.log(JSON.stringify(require(${JSON.stringify(utils)}).parseInstallFlag() ?? null))`;
    const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/onnxruntime_node_install/i.test(k))), ...extraEnv };
    return JSON.parse(execFileSync(process.execPath, ['-e', probe], { env, encoding: 'utf8' }));
  };
  assert.equal(parse([flag!]), 'cuda12');
  assert.equal(parse([], { ONNXRUNTIME_NODE_INSTALL: 'skip' }), false);
  // 'cuda12' is a download on exactly the platform the error message offers it for.
  const meta = require(join(dirname(script!), 'install-metadata.js')) as { requirements: Record<string, string[]> };
  assert.deepEqual(
    Object.keys(meta.requirements).filter((p) => meta.requirements[p]!.includes('cuda12')),
    [GPU_INSTALL_PLATFORM],
  );
  // The README gives the same command, from the project folder (where node_modules/onnxruntime-node is, from a
  // clone or in a project that depends on Hone).
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const relative = `node node_modules/onnxruntime-node/script/install.js ${flag}`;
  assert.ok(readme.includes(relative), 'README lacks the GPU recipe');
  assert.ok(script!.replaceAll('\\', '/').endsWith('node_modules/onnxruntime-node/script/install.js'), script);
  // And package.json keeps npm from running the script at install time (the offline-safe default).
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  assert.equal(pkg.allowScripts['onnxruntime-node'], false);
});

test('cleanOrtMessage keeps the essential part of ORT errors', () => {
  assert.equal(
    cleanOrtMessage(
      'This is an invalid model. In Node, ("foobar", FooBar, "", -1) : ("x": tensor(float),) -> ("y": tensor(float),) , Error No Op registered for FooBar with domain_version of 21',
    ),
    "No Op registered for FooBar with domain_version of 21 (node 'foobar', FooBar)",
  );
  assert.equal(
    cleanOrtMessage(
      '[ONNXRuntimeError] : 1 : FAIL : /onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:1988 onnxruntime::Provider& onnxruntime::ProviderLibrary::Get() Failed to load library x.so\n',
    ),
    'Failed to load library x.so',
  );
});

test('cleanOrtMessage puts the cause of a run error inside subgraphs first, then the nodes, innermost first', () => {
  // Silero VAD v5's message when fed an inconsistent state (the cause used to be cut off by shortening).
  assert.equal(
    cleanOrtMessage(
      "Non-zero status code returned while running If node. Name:'If_0' Status Message: Non-zero status code returned while running If node. Name:'If_0_then_branch__Inline_0__/decoder/If_1' Status Message: Non-zero status code returned while running LSTM node. Name:'If_0_then_branch__Inline_0__/decoder/rnn/LSTM' Status Message: Input initial_h must have shape {1,2,128}. Actual:{1,1,128}",
    ),
    "Input initial_h must have shape {1,2,128}. Actual:{1,1,128} (in LSTM 'If_0_then_branch__Inline_0__/decoder/rnn/LSTM' in If 'If_0_then_branch__Inline_0__/decoder/If_1' in If 'If_0')",
  );
  assert.equal(
    cleanOrtMessage(
      "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Non-zero status code returned while running Reshape node. Name:'r' Status Message: cannot reshape",
    ),
    "cannot reshape (in Reshape 'r')",
  );
});

test('cleanOrtMessage drops C++ signatures from ORT asserts', () => {
  assert.equal(
    cleanOrtMessage(
      '/onnxruntime_src/onnxruntime/core/providers/webgpu/webgpu_context.cc:136 onnxruntime::webgpu::WebGpuContext::Initialize(const onnxruntime::webgpu::WebGpuContextConfig&)::<lambda()> adapter_result.status == wgpu::RequestAdapterStatus::Success was false. Failed to get a WebGPU adapter',
    ),
    'adapter_result.status == wgpu::RequestAdapterStatus::Success was false. Failed to get a WebGPU adapter',
  );
  assert.equal(
    cleanOrtMessage(
      '/onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:1988 onnxruntime::Provider& onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load library',
    ),
    'Failed to load library',
  );
});
