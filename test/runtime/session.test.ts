import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { HoneError } from '../../src/errors.js';
import { encodeModel } from '../../src/ir/codec.js';
import { checkProvider, gpuInstallCommand, listProviders } from '../../src/runtime/providers.js';
import { cleanOrtMessage, createSession, sessionOptions } from '../../src/runtime/session.js';
import { fixDims } from '../../src/runtime/inputs.js';
import { tinyMlp, unknownOpModel } from './helpers.js';

const oneLine = (e: unknown) => e instanceof HoneError && e.exitCode === 2 && !e.message.includes('\n');

test('createSession runs a model given as a ModelProto or as bytes, with options', async () => {
  const m = fixDims(tinyMlp(), { dims: { batch: 2 } });
  for (const input of [m, encodeModel(m)]) {
    const s = await createSession(input, { intraOpThreads: 1, graphOptimizationLevel: 'basic' });
    assert.deepEqual(s.inputNames, ['x']);
    assert.deepEqual(s.outputNames, ['y']);
    await s.release();
  }
  const o = sessionOptions({ intraOpThreads: 2, interOpThreads: 1, graphOptimizationLevel: 'disabled', profilePrefix: '/tmp/p', enableMemPattern: false });
  assert.deepEqual(o.executionProviders, ['cpu']);
  assert.equal(o.intraOpNumThreads, 2);
  assert.equal(o.graphOptimizationLevel, 'disabled');
  assert.equal(o.enableProfiling, true);
  assert.equal(o.profileFilePrefix, '/tmp/p');
  assert.equal(o.enableMemPattern, false);
});

test('bytes that are not a model give a one-line HoneError', async () => {
  await assert.rejects(createSession(new Uint8Array([1, 2, 3, 4, 5])), (e: unknown) => oneLine(e) && /cannot parse the model/.test((e as Error).message));
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
  assert.throws(() => checkProvider('tpu'), (e: unknown) => oneLine(e) && /provider 'tpu' is not supported.*use one of: cpu/.test((e as Error).message));
  const cuda = all.find((p) => p.name === 'cuda');
  if (cuda && !cuda.available) {
    assert.throws(() => checkProvider('cuda'), (e: unknown) =>
      oneLine(e) && /not installed/.test((e as Error).message) && (e as Error).message.includes(gpuInstallCommand()));
  }
});

test('the GPU install command is onnxruntime-node\'s own script with a flag it parses as CUDA 12', () => {
  const [, script, flag] = gpuInstallCommand().split(' ');
  assert.ok(existsSync(script!), script);
  // The script's flag parser, fed the documented argv with no environment override, must ask for 'cuda12'
  // (its newer spelling, --onnxruntime-node-install=cuda12, parses to nothing in onnxruntime-node 1.30).
  const utils = join(dirname(script!), 'install-utils.js');
  const probe = `process.argv.push(${JSON.stringify(flag)}); console.log(JSON.stringify(require(${JSON.stringify(utils)}).parseInstallFlag()))`;
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/onnxruntime_node_install/i.test(k)));
  const out = execFileSync(process.execPath, ['-e', probe], { env, encoding: 'utf8' });
  assert.equal(JSON.parse(out), 'cuda12');
  // And package.json keeps npm from running the script at install time (the offline-safe default).
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  assert.equal(pkg.allowScripts['onnxruntime-node'], false);
});

test('cleanOrtMessage keeps the essential part of ORT errors', () => {
  assert.equal(
    cleanOrtMessage('This is an invalid model. In Node, ("foobar", FooBar, "", -1) : ("x": tensor(float),) -> ("y": tensor(float),) , Error No Op registered for FooBar with domain_version of 21'),
    "No Op registered for FooBar with domain_version of 21 (node 'foobar', FooBar)",
  );
  assert.equal(
    cleanOrtMessage('[ONNXRuntimeError] : 1 : FAIL : /onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:1988 onnxruntime::Provider& onnxruntime::ProviderLibrary::Get() Failed to load library x.so\n'),
    'Failed to load library x.so',
  );
});

test('cleanOrtMessage drops C++ signatures from ORT asserts', () => {
  assert.equal(
    cleanOrtMessage('/onnxruntime_src/onnxruntime/core/providers/webgpu/webgpu_context.cc:136 onnxruntime::webgpu::WebGpuContext::Initialize(const onnxruntime::webgpu::WebGpuContextConfig&)::<lambda()> adapter_result.status == wgpu::RequestAdapterStatus::Success was false. Failed to get a WebGPU adapter'),
    'adapter_result.status == wgpu::RequestAdapterStatus::Success was false. Failed to get a WebGPU adapter',
  );
  assert.equal(
    cleanOrtMessage('/onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:1988 onnxruntime::Provider& onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load library'),
    'Failed to load library',
  );
});
