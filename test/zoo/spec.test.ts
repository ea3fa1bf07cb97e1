// The registry: spec parsing and the HoneErrors for unknown models, options and bad values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HoneError } from '../../src/errors.js';
import { zooHelp, zooModel, zooModels, zooNames } from '../../src/zoo/index.js';
import { countOps, floatParams } from './helpers.js';

function rejects(spec: string, ...parts: (string | RegExp)[]): void {
  assert.throws(
    () => zooModel(spec),
    (e: unknown) => {
      assert.ok(e instanceof HoneError, `not a HoneError: ${String(e)}`);
      assert.equal(e.exitCode, 2);
      assert.ok(!e.message.includes('\n'), 'one line');
      for (const p of parts) assert.match(e.message, typeof p === 'string' ? new RegExp(p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : p);
      return true;
    },
  );
}

test('names, descriptions and help', () => {
  assert.deepEqual(zooNames(), ['mlp', 'lenet5', 'resnet', 'mobilenet', 'transformer']);
  for (const info of zooModels()) {
    assert.ok(info.description.length > 20);
    assert.doesNotThrow(() => zooModel(info.example), info.example);
  }
  const help = zooHelp();
  for (const name of zooNames()) assert.ok(help.includes(`  ${name} — `));
  assert.match(help, /hidden\s+ints\s+512-256/);
});

test('specs: NAME, zoo:NAME, NAME:k=v,k=v, case-insensitive names and keys', () => {
  assert.equal(floatParams(zooModel('zoo:lenet5')), 61_706);
  assert.equal(floatParams(zooModel('LeNet5')), 61_706);
  assert.equal(floatParams(zooModel('mlp:hidden=128-64')), 109_386);
  assert.equal(floatParams(zooModel('mlp: hidden = 128-64 , classes=10')), 109_386);
  assert.equal(countOps(zooModel('transformer:layers=2,dmodel=128'), 'Softmax'), 2);
  assert.equal(
    zooModel('transformer:layers=2,dModel=128').graph!.initializer.find((t) => t.name === 'layers.0.attn.q_proj.weight')!.dims[0],
    128,
  );
});

test('unknown model lists the available ones', () => {
  rejects('vgg', "unknown zoo model 'vgg'", 'mlp, lenet5, resnet, mobilenet, transformer');
  rejects('', "unknown zoo model ''");
});

test('unknown option lists the options of that model', () => {
  rejects('mlp:depth=3', "zoo:mlp has no option 'depth'", 'inputSize, hidden, classes, activation, flatten, batch, seed');
  rejects('lenet5:hidden', "'hidden' is not key=value");
});

test('bad values name the option and what it must be', () => {
  rejects('mlp:hidden=128,64', "'64' is not key=value");
  rejects('mlp:hidden=abc', 'option hidden must be integers joined by');
  rejects('mlp:hidden=128-0', 'option hidden must be integers >= 1');
  rejects('mlp:classes=0', 'option classes must be an integer >= 1');
  rejects('mlp:classes=2.5', 'option classes must be an integer');
  rejects('mlp:activation=swish', 'option activation must be one of relu, relu6, tanh, sigmoid, gelu');
  rejects('mlp:flatten=maybe', 'option flatten must be true or false');
  rejects('mlp:batch=-1', 'option batch must be a positive integer or a symbol');
  rejects('mlp:classes=3,classes=4', "option 'classes' is given twice");
  rejects('mobilenet:widthMultiplier=x', 'option widthMultiplier must be a number >= 0.05');
});

test('inconsistent options are HoneErrors too', () => {
  rejects('transformer:dModel=100,heads=3', 'dModel (100) must be divisible by heads (3)');
  rejects('resnet:depth=21', 'depth must be 6n+2');
  rejects('resnet:depth=20,blocks=3-3-3', 'either depth or blocks');
  rejects('resnet:blocks=2-2,widths=16-32-64', 'one entry per stage');
  rejects('lenet5:channels=6', 'channels needs two widths');
  rejects('lenet5:size=8', 'size must be an integer >= 12');
  rejects('mlp:flatten=true,inputSize=200', 'flatten=true needs a square inputSize');
  assert.equal(zooModel('mlp:flatten=true,inputSize=144,hidden=4').graph!.input[0]!.type!.tensorType!.shape!.dim[3]!.dimValue, 12);
  rejects('mobilenet:stages=8', 'stages must be at most 7');
  rejects('transformer:vocab=10,seq=600', 'longer than maxSeq');
});
