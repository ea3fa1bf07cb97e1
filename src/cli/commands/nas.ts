/**
 * `hone nas`: hardware-aware architecture search over the zoo builders. Each trial builds an architecture
 * from the space, trains it with one fixed recipe (so architectures, not recipes, are compared), and
 * measures two objectives: validation accuracy and inference latency at batch 1 on this machine's ONNX
 * Runtime. The tuner's multi-objective search (multi-objective TPE by default) gives the Pareto front; the answer is the most
 * accurate architecture within the latency budget, written with the front and the study's page.
 *
 * This is the train objective of `hone tune` (src/cli/tune) with the `latency` metric, a space of model
 * options only, and the output a NAS user wants; it runs on every storage and with --workers like tune.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { badInput } from '../../errors.js';
import { studyHtml } from '../../report/study-html.js';
import type { StudyReport } from '../../tune/report.js';
import type { Distribution, ParamValue } from '../../tune/types.js';
import { writeFileAtomic } from '../../util/fs.js';
import { si } from '../../report/format.js';
import { numberFlag, parseFlags, quietFlag, quietHelp, type Command, type Io } from '../command.js';
import { resolveTuneConfig, parseSpace, type SAMPLERS } from '../tune/config.js';
import { abortOnSignals, interruptExitCode, interruptReason } from '../tune/interrupt.js';
import { runTune } from '../tune/run.js';
import {
  fitLatencyModel,
  LATENCY_FEATURES,
  leaveOneOutMape,
  architectureCosts,
  architectureFeatures,
  architectureModel,
  inferenceLatencyMs,
} from '../../nas/latency-model.js';
import { COST_METRICS, defaultTrainSpace, trialModelPath, zooParts, type CostMetric } from '../tune/train-spec.js';
import { parseDuration } from './optimize.js';
import { architectureName, CODE_PREFIX, isCodeSpaceFile, loadCodeSpace } from '../../nas/code-space.js';
import { saveModel } from '../../ir/model.js';
import { checkProvider } from '../../runtime/providers.js';
import { weightSharingSearch, type WeightSharingInfo } from './nas-shared.js';
import { confirmArchitectures, CONFIRM_ROUNDS, type ConfirmInfo, type ConfirmOptions, type Confirmed } from './nas-confirm.js';
import { median } from '../../runtime/stats.js';

/** The built-in spaces: a zoo model sized for MNIST-like 28×28 digits, and the options searched. */
const c = (...choices: (string | number)[]): Distribution => ({ type: 'categorical', choices });
export const NAS_SPACES: Record<
  string,
  {
    model: string;
    what: string;
    space: Record<string, Distribution>;
    /** With --weight-sharing, these entries replace the space's (choices that are prefixes of the largest). */
    shared?: Record<string, Distribution>;
  }
> = {
  mlp: {
    model: 'zoo:mlp',
    what: 'MLP: widths of the two hidden layers, activation',
    space: {
      'model.hidden': c('64-32', '128-64', '128-128', '256-128', '256-256', '512-256', '512-512', '1024-512'),
      'model.activation': c('relu', 'tanh', 'gelu'),
    },
  },
  cnn: {
    model: 'zoo:lenet5',
    what: 'LeNet-style CNN (ReLU): conv channels and kernel, 1 or 2 FC layers, max pooling or strided convs (shared: 5×5, 2 FC)',
    // What moves accuracy and latency at this size. Tanh and average pooling were searched here before: in an
    // 80-trial search of that 768-architecture space, half the trials went to tanh and 31 of those 40 were
    // stopped part-way or skipped (ReLU: 10 of 40), the best tanh 97.56% against ReLU's 97.75%, and average
    // pooling's best (97.44%) trailed max pooling's on the same widths. A space file can still search them.
    space: {
      'model.channels': c('4-8', '4-12', '6-16', '8-24', '12-32', '16-32', '16-48', '32-64'),
      'model.fc': c('64', '96', '128', '32-16', '64-32', '84-42', '120-84', '256-128'),
      // Strided convs instead of pooling: no pooling kernel and a quarter of the multiply-adds, which at
      // batch 1 buys wider convs within the same latency.
      'model.pool': c('max', 'stride'),
      'model.kernel': c(3, 5),
    },
    // A 3×3 kernel is not a leading slice of a 5×5 (nor the same output size for the unpadded conv2); a
    // one-layer head feeds the classifier from another layer than a two-layer one.
    // The supernet costs its largest architecture per step: channels 32-64 would double it.
    shared: {
      'model.kernel': c(5),
      'model.fc': c('32-16', '64-32', '84-42', '120-84', '256-128'),
      'model.channels': c('4-8', '4-12', '6-16', '8-24', '12-32', '16-32', '16-48'),
    },
  },
  resnet: {
    model: 'zoo:resnet:inputChannels=1,size=28',
    what: 'ResNet: channels per stage and residual blocks per stage',
    space: {
      'model.widths': c('4-8-16', '8-16-32', '16-32-64', '32-64-128'),
      'model.blocks': c('1-1-1', '2-1-1', '2-2-2', '3-3-3'),
    },
  },
  mobilenet: {
    model: 'zoo:mobilenet:inputChannels=1,size=28',
    what: 'MobileNet-v2: width multiplier, expansion ratio of the inverted residuals, stages kept (with --weight-sharing: α 0.5 or 0.75, 4 stages)',
    space: {
      'model.widthMultiplier': c(0.25, 0.35, 0.5, 0.75),
      'model.expansion': c(2, 3, 4, 6),
      'model.stages': c(3, 4, 5),
    },
    // At α 0.25 and 0.35 two stages round to 8 channels and gain a residual connection the wider networks
    // lack, so they are not sub-networks of α 0.75; a stage count changes which layer feeds the head.
    shared: { 'model.widthMultiplier': c(0.5, 0.75), 'model.stages': c(4) },
  },
  transformer: {
    model: 'zoo:transformer:inputSize=28,seq=28,maxSeq=28,classes=10',
    what: 'Transformer encoder over the 28 rows of a digit: layers, attention heads, model and feed-forward widths (not with --weight-sharing)',
    space: {
      'model.layers': c(1, 2, 3),
      'model.heads': c(1, 2, 4),
      'model.dModel': c(32, 64, 128),
      'model.ffn': c(64, 128, 256),
    },
  },
};

/**
 * The space's reference architecture: the zoo model's own defaults for the searched options, when every
 * one of them is among the choices (LeNet-5 itself in the cnn space). It is trained first, so the answer is
 * always compared with it, measured in the same run.
 */
export function referenceParams(model: string, space: Record<string, Distribution>): Record<string, ParamValue> | undefined {
  const zoo = zooParts(model);
  if (!zoo) return undefined;
  const params: Record<string, ParamValue> = {};
  for (const [name, d] of Object.entries(space)) {
    if (!name.startsWith('model.')) continue;
    const opt = zoo.info.options.find((o) => o.name === name.slice('model.'.length));
    if (!opt || d.type !== 'categorical') return undefined;
    const match = d.choices.find((c) => String(c) === opt.default);
    if (match === undefined) return undefined;
    params[name] = match;
  }
  return Object.keys(params).length ? params : undefined;
}

/** One training recipe for every architecture: a single choice per hyperparameter keeps it out of the search. */
export const RECIPE: Record<string, Distribution> = {
  optimizer: c('adam'),
  lr: c(0.002),
  batch_size: c(64),
  momentum: c(0.9),
  beta1: c(0.9),
  beta2: c(0.999),
  weight_decay: c(0.0001),
  schedule: c('cosine'),
  warmup: c(0),
  label_smoothing: c(0),
};
const one = (name: string) => (RECIPE[name] as Extract<Distribution, { type: 'categorical' }>).choices[0] as number | string;
/** The recipe as weight sharing's trainer takes it (the supernet and the fine-tuning train with it). */
const RECIPE_VALUES = {
  lr: one('lr') as number,
  batchSize: one('batch_size') as number,
  weightDecay: one('weight_decay') as number,
  schedule: one('schedule') as string,
};

const HELP = `hone nas — architecture search with accuracy and measured latency (or MACs, parameters) as the objectives

Usage:
  hone nas --space mlp|cnn|resnet|mobilenet|transformer|FILE.yaml|FILE.mjs --data DATA -o DIR [--latency-budget MS]
           [--cost latency|macs|params] [--max-macs N] [--max-params N] [--trials N] [--budget DURATION]
           [--epochs E] [--limit N] [--storage URL] [--study NAME] [--workers N] [--sampler S] [--seed S]
           [--provider P] [--no-prune] [--proxy-keep F] [--confirm K [--confirm-seeds S]]
           [--weight-sharing [--supernet-epochs E]] [--json] [--quiet]

The space's reference architecture (the zoo model's defaults, e.g. LeNet-5 itself in the cnn space)
is trained first, so the answer is compared with it, measured in the same run. Each trial builds an
architecture from the space, trains it with one fixed recipe (Adam, lr 0.002, batch 64, cosine
schedule) on DATA, and measures its validation accuracy (20% held out) and its latency per inference
at batch 1 on this machine's ONNX Runtime (the lesser of two timings, before and after training, each
the least of 4 fresh sessions' round medians). The tuner's multi-objective TPE (--sampler auto: random
for the first 10, then TPE with hypervolume-based selection) searches for the Pareto front of the
two; limits (--latency-budget, --max-macs, --max-params) are its constraints, and with one TPE ranks
architectures by accuracy among those within it: the search looks for the answer, the most accurate
within the limits, rather than mapping the whole front. With --latency-budget, once 6 are measured,
an architecture a latency model fitted to them (kernels, MACs, bytes moved) predicts over the budget
by more than twice the model's own error is not trained. Multi-fidelity: latency is measured (MACs
and parameters counted) before training, and after each epoch but the last an architecture that two
finished ones beat at that epoch (by more than the validation set's standard error) while no
costlier is stopped there (--no-prune trains every one to the end). Writes into DIR:
  model.onnx    the most accurate architecture within the limits (or on the front), trained
                (with --confirm, the best on average over its runs)
  front.json    every trained architecture: its options, accuracy, latency, MACs, parameters, on the
                front or not, within the budgets or not
  report.html   the study's page (history, Pareto front, parameters); report.json the same numbers

With --weight-sharing (Once-for-All style), the space's largest architecture is trained once as a
supernet — each step trains the largest, the smallest or a random architecture through channel masks
on the same weights — and every architecture is then evaluated with the weights it inherits (the
leading channels of each layer; BatchNorm statistics recomputed on training batches), without training
of its own; the chosen one is fine-tuned for --epochs epochs and written. Widths and residual-block
depths share weights; options that do not (activation, pooling) are kept at the reference's value.

Spaces (built in, for 28×28 single-channel images such as mnist):
${Object.entries(NAS_SPACES)
  .map(([k, v]) => `  ${k.padEnd(10)}  ${v.what}`)
  .join('\n')}
  FILE.yaml   your own: model: zoo:NAME[:fixed options] and space: { model.OPTION: { type: categorical,
              choices: [...] } } (any zoo option; 'hone zoo list' shows them)
  FILE.mjs    your own in code: export space = { OPTION: [choices…] or { type: 'int', low, high } }
              and function model(options, { zoo, GraphBuilder, DataType }) returning the ONNX model
              of one architecture (any graph the trainer takes); export reference = { … } to train
              one architecture first as the reference

Options:
  --space S              the search space (required)
  --data DATA            mnist or an .npz with the model's inputs and 'label' (required)
  -o, --output DIR       where to write (required; a new or empty folder)
  --latency-budget MS    the slowest acceptable inference, ms at batch 1 (e.g. 0.5 or 0.5ms), or a
                         factor of the space's reference (1x: no slower than LeNet-5 in the cnn space),
                         timed here first; with --confirm held to that factor side by side
  --cost C               the search's second objective: latency (default: measured on this machine),
                         macs (multiply-accumulates per inference at batch 1, counted from the graph: the
                         same on every machine, nothing timed) or params (the weights' size)
  --max-macs N           skip architectures over N MACs per inference, untrained (e.g. 500k, 2M)
  --max-params N         skip architectures over N parameters, untrained (e.g. 60k)
  --trials N             architectures to train (default 20)
  --budget DURATION      stop starting trials after this long (e.g. 10m); with --trials, whichever first
  --epochs E             epochs per architecture (default 2); with --weight-sharing, the chosen
                         architecture's fine-tuning (0: none)
  --limit N              train on the first N samples (default 6000)
  --storage URL          keep the study (sqlite:PATH, postgresql://…) to watch it in hone dashboard
  --study NAME           the study's name in the storage (default: nas-SPACE-<time>)
  --workers N            architectures trained at once (latency is then measured on shared cores)
  --sampler S            auto (default: multi-objective TPE after 10 random), tpe, nsga2 (a generation
                         of max(8, trials/4) architectures, at most 50) or random
  --seed S               the sampler's seed (default 0)
  --provider P           the execution provider latency is measured on: cpu (default), cuda, … (training
                         runs on the CPU)
  --no-prune             train every architecture for all its epochs (no stopping of dominated ones)
  --proxy-keep F         a zero-cost filter: score each untrained network (NASWOT: how differently its
                         activations switch on across 64 samples) and, once 6 are scored, train only
                         those in the top F share of the scores so far (e.g. 0.5)
  --confirm K            check the answer before writing it: the K most accurate within the limits (with
                         a relative budget, also against the reference's timing in the search) and
                         the reference are trained again with --confirm-seeds other seeds (each its own
                         split and initial weights, the same for all) and timed side by side in ${CONFIRM_ROUNDS}
                         alternating rounds; the answer is the best mean accuracy whose latency, re-timed,
                         is within the budget. One training run each is noisy (one held-out standard error
                         is about half a point on 1,600 digits): the search's best is often a lucky run
  --confirm-seeds S      the extra training seeds of --confirm (default 2)
  --weight-sharing       train one supernet instead of every architecture (see above); --trials then
                         defaults to every architecture of the space, up to 100
  --supernet-epochs E    epochs of supernet training (default 3)
  --json                 print the result as one JSON object
${quietHelp(25)}

Examples:
  hone nas --space cnn --data mnist --trials 12 --latency-budget 0.5 -o nas-cnn
  hone nas --space cnn --data mnist --trials 12 --latency-budget 1x --confirm 2 -o nas-confirmed
  hone nas --space mlp --data mnist --trials 8 --epochs 1 -o nas-mlp --json
  hone nas --space cnn --data mnist --trials 12 --cost macs --max-macs 500k -o nas-macs
  hone nas --space examples/nas-space.mjs --data mnist --trials 12 -o nas-code
  hone nas --space cnn --data mnist --weight-sharing --latency-budget 0.5 -o nas-shared
`;

export const nasCommand: Command = {
  name: 'nas',
  summary: 'architecture search: accuracy and measured latency, a Pareto front, the best model within a latency budget',
  help: HELP,
  async run(argv: string[], io: Io) {
    const { values, positionals } = parseFlags(
      'nas',
      argv,
      {
        space: { type: 'string' },
        data: { type: 'string' },
        output: { type: 'string', short: 'o' },
        'latency-budget': { type: 'string' },
        cost: { type: 'string' },
        'max-macs': { type: 'string' },
        'max-params': { type: 'string' },
        trials: { type: 'string' },
        budget: { type: 'string' },
        epochs: { type: 'string' },
        limit: { type: 'string' },
        storage: { type: 'string' },
        workers: { type: 'string' },
        seed: { type: 'string' },
        sampler: { type: 'string' },
        study: { type: 'string' },
        'weight-sharing': { type: 'boolean' },
        'no-prune': { type: 'boolean' },
        'proxy-keep': { type: 'string' },
        provider: { type: 'string' },
        'supernet-epochs': { type: 'string' },
        confirm: { type: 'string' },
        'confirm-seeds': { type: 'string' },
        json: { type: 'boolean' },
        ...quietFlag,
      },
      false,
    );
    if (positionals.length) throw badInput(`nas takes no arguments (got '${positionals[0]}'); give the space with --space`);
    if (!values.space) throw badInput(`nas needs --space: ${Object.keys(NAS_SPACES).join(', ')} or a YAML file (see 'hone nas --help')`);
    if (!values.data) throw badInput('nas needs --data: mnist or an .npz with the model inputs and label');
    if (!values.output) throw badInput('nas needs -o DIR for the model, the front and the report');
    const out = resolve(values.output);
    checkOutputDir(out);
    const shared = values['weight-sharing'] === true;
    const { model, space, reference: moduleReference } = await resolveSpace(values.space, shared);
    const budget = values['latency-budget'] === undefined ? undefined : parseBudget(values['latency-budget']);
    const cost = (values.cost ?? 'latency') as CostMetric;
    if (!(COST_METRICS as readonly string[]).includes(cost))
      throw badInput(`--cost is one of ${COST_METRICS.join(', ')}, got '${values.cost}'`);
    if (budget !== undefined && cost !== 'latency')
      throw badInput(`--latency-budget needs latency measured: drop --cost ${cost}, or bound it with --max-macs/--max-params`);
    const maxMacs = values['max-macs'] === undefined ? undefined : parseCount(values['max-macs'], '--max-macs');
    const maxParams = values['max-params'] === undefined ? undefined : parseCount(values['max-params'], '--max-params');
    const trials = numberFlag(values.trials, '--trials', { int: true, min: 2 }) ?? (values.budget || shared ? undefined : 20);
    const timeoutS = values.budget === undefined ? undefined : parseDuration(values.budget, '--budget');
    const epochs = numberFlag(values.epochs, '--epochs', { int: true, min: shared ? 0 : 1 }) ?? 2;
    const limit = numberFlag(values.limit, '--limit', { int: true, min: 10 }) ?? 6000;
    const workers = numberFlag(values.workers, '--workers', { int: true, min: 1 }) ?? 1;
    const seed = numberFlag(values.seed, '--seed', { int: true, min: 0 }) ?? 0;
    const sampler = values.sampler ?? 'auto';
    if (!NAS_SAMPLERS.includes(sampler as (typeof NAS_SAMPLERS)[number]))
      throw badInput(`--sampler is one of ${NAS_SAMPLERS.join(', ')} for a search with two objectives, got '${sampler}'`);
    const supernetEpochs = numberFlag(values['supernet-epochs'], '--supernet-epochs', { int: true, min: 1 }) ?? 3;
    if (!shared && values['supernet-epochs'] !== undefined)
      throw badInput('--supernet-epochs goes with --weight-sharing; add it or drop --supernet-epochs');
    if (shared && workers > 1) throw badInput('--weight-sharing trains one supernet in this process; drop --workers');
    const proxyKeep = numberFlag(values['proxy-keep'], '--proxy-keep', { min: 0 });
    if (proxyKeep !== undefined && !(proxyKeep > 0 && proxyKeep < 1))
      throw badInput(`--proxy-keep is the share of architectures trained, between 0 and 1 (e.g. 0.5), got ${values['proxy-keep']}`);
    if (shared && proxyKeep !== undefined)
      throw badInput('--proxy-keep filters architectures before training each; --weight-sharing trains none alone');
    if (shared && values['no-prune'])
      throw badInput('--no-prune is for separate training; --weight-sharing trains no architecture part-way');
    const confirm = numberFlag(values.confirm, '--confirm', { int: true, min: 1 });
    const confirmSeeds = numberFlag(values['confirm-seeds'], '--confirm-seeds', { int: true, min: 1 }) ?? 2;
    if (confirm === undefined && values['confirm-seeds'] !== undefined)
      throw badInput('--confirm-seeds goes with --confirm K (the architectures to train again); add it or drop --confirm-seeds');
    if (shared && confirm !== undefined)
      throw badInput('--confirm trains candidates again from scratch; --weight-sharing evaluates them on shared weights: drop one');
    const provider = values.provider === undefined ? undefined : checkProvider(values.provider);
    const study = values.study ?? `nas-${values.space.replace(/[^\w.-]/g, '_')}-${Date.now().toString(36)}`;
    const reference = moduleReference ?? referenceParams(model, space);
    if (budget?.factor !== undefined && !reference)
      throw badInput(
        `--latency-budget ${values['latency-budget']} is relative to the space's reference architecture, and ${values.space} has none: give a time such as 0.5ms`,
      );
    const relative =
      budget?.factor === undefined ? undefined : await timeReference(model, reference!, budget.factor, provider, io, values.quiet);
    const budgetMs = relative ? relative.budgetMs : budget?.ms;
    const limits: Limits = {
      ...(budgetMs !== undefined ? { latencyMs: budgetMs } : {}),
      ...(maxMacs !== undefined ? { macs: maxMacs } : {}),
      ...(maxParams !== undefined ? { params: maxParams } : {}),
    };

    const interrupt = abortOnSignals({ onRepeat: () => process.exit(interruptExitCode(interrupt.signal.reason)) });
    // Everything lands in a hidden folder first, renamed to DIR at the end: no half-written output.
    const tmp = join(dirname(out), `.${out.split(/[\\/]/).pop()}.nas-${process.pid}`);
    let result: NasResult;
    let latencyModel: SearchLatencyModel | null;
    let interrupted: string | undefined;
    let weightSharing: WeightSharingInfo | undefined;
    let confirmation: ConfirmInfo | undefined;
    try {
      let report: StudyReport;
      let where: string;
      let writeModel: (chosen: Architecture, path: string) => Promise<void>;
      if (shared) {
        const s = await weightSharingSearch({
          model,
          space,
          reference,
          data: values.data,
          limit,
          ...(trials !== undefined ? { trials } : {}),
          ...(timeoutS !== undefined ? { timeoutS } : {}),
          supernetEpochs,
          finetuneEpochs: epochs,
          recipe: RECIPE_VALUES,
          storage: values.storage,
          ...(provider ? { provider } : {}),
          cost,
          sampler: nasSampler(sampler, seed, trials),
          study,
          seed,
          io,
          quiet: values.quiet,
          signal: interrupt.signal,
        });
        ({ report, where, interrupted } = s);
        weightSharing = s.info;
        result = nasResult(report, limits, s.base, s.reference, cost);
        writeModel = async (chosen, path) => {
          saveModel(await s.modelFor(chosen.options), path);
        };
      } else {
        const config = resolveTuneConfig(
          {
            study,
            sampler: nasSampler(sampler, seed, trials, limitsGiven(limits).length > 0),
            pruner: 'none',
            ...(trials !== undefined ? { trials } : {}),
            ...(timeoutS !== undefined ? { timeout: timeoutS } : {}),
            workers,
            space: { ...RECIPE, ...space },
            objective: {
              train: {
                model,
                data: values.data,
                epochs,
                metric: ['accuracy', cost],
                limit,
                ...(budgetMs !== undefined ? { latency_budget: budgetMs } : {}),
                ...(limits.macs !== undefined ? { max_macs: limits.macs } : {}),
                ...(limits.params !== undefined ? { max_params: limits.params } : {}),
                ...(values['no-prune'] ? {} : { prune_dominated: true }),
                ...(proxyKeep !== undefined ? { proxy_keep: proxyKeep } : {}),
                ...(provider ? { provider } : {}),
              },
            },
          },
          { storage: values.storage },
          undefined,
          Object.hasOwn(NAS_SPACES, values.space) ? 'the command line' : `--space ${values.space} and the command line`,
        );
        if (reference) config.enqueue = [{ params: reference, userAttrs: { reference: true } }];
        const run = await runTune(config, { resume: false, io, quiet: values.quiet, signal: interrupt.signal });
        ({ report, where, interrupted } = run);
        result = nasResult(report, limits, model, reference, cost);
        if (confirm !== undefined && result.chosen && !interrupted) {
          const c = await confirmChoice(result, limits, relative?.factor, confirm, {
            model,
            data: values.data,
            epochs,
            limit,
            recipe: RECIPE,
            cost,
            ...(provider ? { provider } : {}),
            ...(values.storage ? { storage: values.storage } : {}),
            study,
            workers,
            seeds: confirmSeeds,
            io,
            quiet: values.quiet,
            signal: interrupt.signal,
          });
          if ('result' in c) ({ result, info: confirmation } = c);
          else interrupted = c.interrupted;
        }
        const models = config.objective.kind === 'train' ? config.objective : undefined;
        writeModel = async (chosen, dest) => {
          const path = models ? trialModelPath(models, config.study, chosen.number) : undefined;
          if (!path || !existsSync(path))
            throw badInput(`the chosen trial's model is not on this machine (${path}); it was trained by a worker elsewhere`);
          copyFileSync(path, dest);
        };
      }
      latencyModel = fitSearchLatencyModel(result.architectures);
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp, { recursive: true });
      if (result.chosen) await writeModel(result.chosen, join(tmp, 'model.onnx'));
      writeFileAtomic(join(tmp, 'front.json'), `${JSON.stringify(result.architectures, null, 2)}\n`);
      const doc = {
        tool: 'hone nas',
        space: values.space,
        model,
        cost,
        latencyBudgetMs: budgetMs ?? null,
        ...(relative ? { latencyBudgetRelative: relative } : {}),
        maxMacs: limits.macs ?? null,
        maxParams: limits.params ?? null,
        ...result,
        latencyModel,
        ...(weightSharing ? { weightSharing } : {}),
        ...(confirmation ? { confirmation } : {}),
        study: report,
      };
      writeFileAtomic(join(tmp, 'report.json'), `${JSON.stringify(doc)}\n`);
      writeFileAtomic(join(tmp, 'report.html'), studyHtml(report, { where }));
      if (existsSync(out)) rmSync(out, { recursive: true });
      renameSync(tmp, out);
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    } finally {
      interrupt.release();
    }
    if (values.json)
      io.stdout(
        `${JSON.stringify({ output: out, chosen: result.chosen, reference: result.reference ?? null, front: result.front, note: result.note ?? null, latencyModel, ...(weightSharing ? { weightSharing } : {}), ...(confirmation ? { confirmation } : {}) })}\n`,
      );
    else io.stdout(nasText(result, out, limits, cost, latencyModel, weightSharing, confirmation));
    if (interrupted) return interruptExitCode(interrupted);
    return result.chosen ? 0 : 1;
  },
};

/** The samplers that search two objectives (SAMPLERS of the tuner, less those for one). */
const NAS_SAMPLERS = ['auto', 'tpe', 'nsga2', 'random'] as const satisfies readonly (typeof SAMPLERS)[number][];

/**
 * The sampler as the tuner's config takes it. NSGA-II's generations are sized to the search: with its
 * default 50, a 20- or 40-architecture search would never leave the random first generation. With a limit
 * (`focused`) the answer is the most accurate architecture within it, so TPE (auto's or tpe) ranks its good
 * trials by accuracy among those within the limits rather than by their place on the whole front.
 */
function nasSampler(name: string, seed: number, trials: number | undefined, focused = false) {
  const options =
    name === 'nsga2'
      ? { populationSize: Math.min(50, Math.max(8, Math.round((trials ?? 200) / 4))) }
      : focused && (name === 'auto' || name === 'tpe')
        ? { multiObjectiveSplit: 'lexicographic' }
        : {};
  return { name: name as (typeof NAS_SAMPLERS)[number], seed, options };
}

/** A trained architecture as front.json lists it. */
export interface Architecture {
  number: number;
  model: string;
  options: Record<string, unknown>;
  accuracy: number;
  /** Per inference at batch 1 on this machine; null when the search's cost was not latency (nothing timed). */
  latencyMs: number | null;
  /** Multiply-accumulates per inference at batch 1; null when they cannot be counted (an op with no cost rule). */
  macs: number | null;
  parameters: number | null;
  /** The search's second objective: latencyMs, macs or parameters. */
  cost: number;
  onFront: boolean;
  withinBudget: boolean;
  /** With --confirm, for the architectures trained again: their accuracies over seeds, latency re-timed side by side. */
  confirmed?: Confirmed;
}

/** The limits an answer must meet: --latency-budget, --max-macs, --max-params. */
export interface Limits {
  latencyMs?: number;
  macs?: number;
  params?: number;
}

/** Each cost's name in sentences and a value of it with its unit. */
const COSTS: Record<CostMetric, { name: string; text: (v: number) => string }> = {
  latency: { name: 'latency', text: (v) => `${v.toPrecision(3)} ms` },
  macs: { name: 'MACs', text: (v) => `${si(v)} MACs` },
  params: { name: 'parameters', text: (v) => `${si(v)} parameters` },
};

/** The limits: the flag that sets each, the architecture's value it bounds, and a bound with its unit. */
const LIMITS: { key: keyof Limits; flag: string; of: (a: Architecture) => number | null; text: (v: number) => string }[] = [
  // A typed budget reads as typed (0.5 ms); one computed from a factor (1x) to 4 significant digits.
  { key: 'latencyMs', flag: '--latency-budget', of: (a) => a.latencyMs, text: (v) => `${+v.toPrecision(4)} ms` },
  { key: 'macs', flag: '--max-macs', of: (a) => a.macs, text: COSTS.macs.text },
  { key: 'params', flag: '--max-params', of: (a) => a.parameters, text: COSTS.params.text },
];

/** The limits given, in LIMITS order, with their bounds. */
function limitsGiven(limits: Limits) {
  return LIMITS.flatMap((l) => (limits[l.key] === undefined ? [] : [{ ...l, max: limits[l.key]! }]));
}

export interface NasResult {
  architectures: Architecture[];
  /** Trial numbers on the Pareto front, fastest first. */
  front: number[];
  /** The most accurate architecture within the budget (on the front when there is none); absent when none meets it. */
  chosen?: Architecture;
  /** Why nothing was chosen. */
  note?: string;
  /** Architectures not trained to the end: predicted over the budget (untrained), or dominated part-way. */
  skipped: number;
  /** The space's reference architecture (the zoo defaults), measured in the same run, when it has one and it trained. */
  reference?: Architecture;
}

export function nasResult(
  r: StudyReport,
  limits: Limits,
  base: string,
  referenceParams?: Record<string, ParamValue>,
  cost: CostMetric = 'latency',
): NasResult {
  const onFront = new Set(r.bestTrials.map((t) => t.number));
  const architectures: Architecture[] = r.history
    .filter((h) => h.state === 'complete' && h.values?.length === 2)
    .map((h) => {
      const options = Object.fromEntries(
        Object.entries(h.params)
          .filter(([k]) => k.startsWith('model.'))
          .map(([k, v]) => [k.slice(6), v]),
      );
      const model = architectureName(base, Object.entries(options));
      const counted = architectureCosts(model);
      const value = h.values![1]!;
      const a: Architecture = {
        number: h.number,
        model,
        options,
        accuracy: h.values![0]!,
        latencyMs: cost === 'latency' ? value : null,
        macs: cost === 'macs' ? value : (counted?.macs ?? null),
        parameters: cost === 'params' ? value : (counted?.parameters ?? null),
        cost: value,
        onFront: onFront.has(h.number),
        withinBudget: true,
      };
      a.withinBudget = withinLimits(a, limits);
      return a;
    });
  const front = architectures
    .filter((a) => a.onFront)
    .sort((a, b) => a.cost - b.cost)
    .map((a) => a.number);
  const skipped = r.history.filter((h) => h.state === 'pruned').length;
  const refEntry =
    referenceParams &&
    r.history.find((h) => h.state === 'complete' && Object.entries(referenceParams).every(([k, v]) => h.params[k] === v));
  const reference = refEntry ? architectures.find((a) => a.number === refEntry.number) : undefined;
  const withRef = <T extends object>(o: T) => (reference ? { ...o, reference } : o);
  const eligible = architectures.filter((a) => a.withinBudget);
  const chosen = [...eligible].sort((a, b) => b.accuracy - a.accuracy || a.cost - b.cost)[0];
  if (chosen) return withRef({ architectures, front, chosen, skipped });
  const given = limitsGiven(limits);
  // As the user typed them ("--max-macs 500000"), and the flags alone for "relax …".
  const flags = given.map((l) => `${l.flag} ${l.key === 'latencyMs' ? l.text(l.max) : l.max}`);
  const relax = given.map((l) => l.flag).join(' or ');
  if (!architectures.length) {
    const failed = r.history.filter((h) => h.state === 'fail').length;
    const why = [
      skipped ? `${skipped} not trained to the end${flags.length ? ` (over ${flags.join(' or ')}, or stopped part-way)` : ''}` : '',
      failed ? `${failed} failed (their reasons are in report.html)` : '',
    ].filter(Boolean);
    return {
      architectures,
      front,
      skipped,
      note: `no architecture finished training${why.length ? `: ${why.join(', ')}` : ''}${flags.length && skipped ? `; relax ${relax}` : ''}`,
    };
  }
  const cheapest = [...architectures].sort((a, b) => a.cost - b.cost)[0]!;
  return withRef({
    architectures,
    front,
    skipped,
    note: `no architecture met ${flags.join(' and ')}; the ${cost === 'latency' ? 'fastest' : 'smallest'} found was trial ${cheapest.number} (${cheapest.model}) at ${COSTS[cost].text(cheapest.cost)}, accuracy ${cheapest.accuracy.toFixed(4)}: relax ${relax}, or search a smaller space`,
  });
}

/**
 * --confirm: the `k` most accurate architectures within the limits, and the reference, trained again and
 * re-timed (nas-confirm.ts); the answer becomes the best mean accuracy among those within the limits with
 * their re-timed latency (ties: the cheaper). When none re-timed is within the budget, the search's answer
 * stands, with a note.
 */
export async function confirmChoice(
  r: NasResult,
  limits: Limits,
  relative: number | undefined,
  k: number,
  o: ConfirmOptions,
): Promise<{ result: NasResult; info: ConfirmInfo } | { interrupted: string }> {
  // With a relative budget a candidate may also be within it against the reference's own timing in the
  // search (the absolute budget was timed before the search, at another moment's pace).
  const refMs = r.reference?.latencyMs;
  const candidate = (a: Architecture) =>
    a.withinBudget ||
    (relative !== undefined &&
      refMs != null &&
      a.latencyMs !== null &&
      a.latencyMs <= relative * refMs &&
      withinLimits({ ...a, latencyMs: null }, limits));
  const top = r.architectures
    .filter(candidate)
    .sort((a, b) => b.accuracy - a.accuracy || a.cost - b.cost)
    .slice(0, k);
  const candidates = r.reference && !top.includes(r.reference) ? [...top, r.reference] : top;
  const done = await confirmArchitectures(candidates, r.reference?.number, o);
  if (!done) return { interrupted: o.signal ? interruptReason(o.signal) : 'an interrupt' };
  const architectures = r.architectures.map((a) => {
    const confirmed = done.results.get(a.number);
    return confirmed ? { ...a, confirmed } : a;
  });
  const byNumber = (n: number) => architectures.find((a) => a.number === n)!;
  // A relative budget (--latency-budget 1x) holds the side-by-side ratio to the reference; an absolute one the
  // least re-timed reading.
  const ratio = (a: Architecture) => a.confirmed!.latencyVsReference;
  const eligible = done.info.architectures
    .map(byNumber)
    .filter((a) =>
      relative !== undefined && ratio(a) !== null
        ? ratio(a)! <= relative && withinLimits({ ...a, latencyMs: null }, limits)
        : withinLimits({ ...a, latencyMs: a.confirmed!.latencyMs ?? a.latencyMs }, limits),
    )
    .sort((a, b) => b.confirmed!.meanAccuracy - a.confirmed!.meanAccuracy || a.cost - b.cost);
  const info = { ...done.info };
  let chosen = eligible[0];
  if (!chosen) {
    chosen = byNumber(r.chosen!.number);
    info.note = `none of the ${candidates.length} re-timed side by side was within --latency-budget ${relative !== undefined ? `${relative}x the reference` : `${limits.latencyMs} ms`}; the search's answer stands on its own timing`;
  }
  const reference = r.reference ? byNumber(r.reference.number) : undefined;
  return { result: { ...r, architectures, chosen, ...(reference ? { reference } : {}) }, info };
}

/** Whether an architecture meets every limit given (one it has no count for is not held to that limit). */
function withinLimits(a: Architecture, limits: Limits): boolean {
  return limitsGiven(limits).every((l) => {
    const v = l.of(a);
    return v === null || v <= l.max;
  });
}

/**
 * The latency model (nas/latency-model.ts) fitted to the architectures this search measured, with its
 * leave-one-out error: how well latency could have been predicted from the graphs alone, in this space,
 * on this machine. Null with fewer than 4 architectures.
 */
export interface SearchLatencyModel {
  features: readonly string[];
  coef: number[];
  architectures: number;
  looMapePercent: number;
}

export function fitSearchLatencyModel(archs: readonly Architecture[]): SearchLatencyModel | null {
  const samples = archs.flatMap((a) => {
    const features = architectureFeatures(a.model);
    return features && a.latencyMs !== null ? [{ features, ms: a.latencyMs }] : [];
  });
  if (samples.length < 4) return null;
  const fit = fitLatencyModel(samples);
  return { features: LATENCY_FEATURES, coef: fit.coef, architectures: samples.length, looMapePercent: leaveOneOutMape(samples) };
}

function nasText(
  r: NasResult,
  out: string,
  limits: Limits,
  cost: CostMetric,
  lm: SearchLatencyModel | null,
  ws: WeightSharingInfo | undefined,
  confirmation?: ConfirmInfo,
): string {
  const lines = ws
    ? [
        `supernet ${ws.supernet.model} trained once: ${ws.supernet.epochs} epoch(s), ${ws.supernet.steps} steps in ${ws.supernet.seconds.toFixed(1)} s; ${ws.evaluation.architectures} of the space's ${ws.architectures} architectures evaluated with inherited weights${ws.evaluation.recalibrated ? ' (BatchNorm recalibrated)' : ''} in ${ws.evaluation.seconds.toFixed(1)} s`,
      ]
    : [];
  lines.push(
    `${r.architectures.length} architecture(s) ${ws ? 'evaluated' : 'trained'}${r.skipped ? `, ${r.skipped} not trained to the end (over a limit, predicted over the latency budget, a low proxy score, or dominated part-way; each trial's reason is in report.html)` : ''}; ${r.front.length} on the Pareto front (accuracy against ${COSTS[cost].name}):`,
  );
  for (const n of r.front) {
    const a = r.architectures.find((x) => x.number === n)!;
    lines.push(`  trial ${String(a.number).padStart(3)}  accuracy ${(100 * a.accuracy).toFixed(2)}%  ${costText(a)}  ${a.model}`);
  }
  const within = limitsGiven(limits).map((l) => l.text(l.max));
  if (confirmation) {
    lines.push(
      `confirmed: trained again with ${confirmation.seeds.length} other seed(s) (each its own split and initial weights, the same for all)${confirmation.rounds ? `, timed side by side (${confirmation.rounds} rounds)` : ''}, ${confirmation.seconds.toFixed(0)} s:`,
    );
    for (const n of confirmation.architectures) {
      const a = r.architectures.find((x) => x.number === n)!;
      const c = a.confirmed!;
      const timed =
        c.latencyMs === null
          ? ''
          : `  ${c.latencyMs.toPrecision(3)} ms${c.latencyVsReference !== null && n !== r.reference?.number ? ` (${c.latencyVsReference.toFixed(2)}x the reference)` : ''}`;
      lines.push(
        `  trial ${String(n).padStart(3)}  mean ${(100 * c.meanAccuracy).toFixed(2)}% (${c.accuracies.map((v) => (100 * v).toFixed(2)).join(', ')})${timed}  ${a.model}${n === r.reference?.number ? '  (reference)' : ''}`,
      );
    }
    if (confirmation.note) lines.push(`hone: note: ${confirmation.note}`);
  }
  if (r.chosen)
    lines.push(
      `chosen${within.length ? ` (within ${within.join(' and ')})` : ''}: trial ${r.chosen.number}, ${r.chosen.model}, accuracy ${(100 * r.chosen.accuracy).toFixed(2)}%${r.chosen.confirmed ? ` (mean of ${r.chosen.confirmed.accuracies.length} runs ${(100 * r.chosen.confirmed.meanAccuracy).toFixed(2)}%)` : ''}, ${costText(r.chosen)} → ${join(out, 'model.onnx')}`,
    );
  else lines.push(`hone: ${r.note}`);
  if (ws?.finetune)
    lines.push(
      `fine-tuned from its inherited weights for ${ws.finetune.epochs} epoch(s) (${ws.finetune.seconds.toFixed(1)} s): accuracy ${(100 * ws.finetune.accuracyBefore).toFixed(2)}% → ${(100 * ws.finetune.accuracyAfter).toFixed(2)}%; whole search ${ws.seconds.toFixed(1)} s`,
    );
  const ref = r.reference;
  if (ref)
    lines.push(
      `reference (${ref.model.startsWith(CODE_PREFIX) ? "the module's" : 'the zoo defaults'}, same run): trial ${ref.number}, accuracy ${(100 * ref.accuracy).toFixed(2)}%, ${costText(ref)}${
        r.chosen && r.chosen.number !== ref.number
          ? `; chosen ${versusReference(r.chosen, ref, cost)}`
          : r.chosen
            ? '; the reference itself is the answer'
            : ''
      }`,
    );
  if (lm)
    lines.push(
      `latency model fitted to the ${lm.architectures} architectures measured (per run, kernels and MACs by kind, MB moved): leave-one-out error ${lm.looMapePercent.toFixed(1)}%`,
    );
  lines.push(`front.json, report.json and report.html → ${out}`);
  return `${lines.join('\n')}\n`;
}

/**
 * The chosen architecture against the reference: accuracy points and cost ratio — with --confirm, the mean
 * over the same seeds (paired) and the latency ratio timed side by side.
 */
function versusReference(chosen: Architecture, ref: Architecture, cost: CostMetric): string {
  const c = chosen.confirmed;
  const rc = ref.confirmed;
  const paired = c && rc && c.accuracies.length === rc.accuracies.length;
  const points = paired ? c.meanAccuracy - rc.meanAccuracy : chosen.accuracy - ref.accuracy;
  const ratio = c?.latencyVsReference ?? chosen.cost / ref.cost;
  return `${points >= 0 ? '+' : ''}${(100 * points).toFixed(2)} points${paired ? ` (mean of ${c.accuracies.length} paired runs)` : ''} at ${ratio.toFixed(2)}x its ${COSTS[cost].name}${c?.latencyVsReference != null ? ' (side by side)' : ''}`;
}

/** An architecture's latency (when measured), MACs and parameters, for the text output. */
function costText(a: Architecture): string {
  return [
    a.latencyMs !== null ? `${a.latencyMs.toPrecision(3)} ms` : '',
    a.macs !== null ? COSTS.macs.text(a.macs) : '',
    a.parameters !== null ? `${si(a.parameters)} params` : '',
  ]
    .filter(Boolean)
    .join(', ');
}

/** '500k', '2M', '1.5G', '60000' → a count (a positive integer). */
export function parseCount(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*([kKmMgG])?$/.exec(text.trim());
  const v = m ? Math.round(Number(m[1]) * ({ k: 1e3, m: 1e6, g: 1e9 }[(m[2] ?? '').toLowerCase() as 'k'] ?? 1)) : Number.NaN;
  if (!(v >= 1)) throw badInput(`${flag} must be a count such as 60000, 500k or 2M, got '${text}'`);
  return v;
}

/** '1x', '0.8x' → a factor of the reference's latency; anything else a time (parseMs). */
export function parseBudget(text: string): { ms?: number; factor?: number } {
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*x$/i.exec(text.trim());
  if (!m) return { ms: parseMs(text) };
  const factor = Number(m[1]);
  if (!(factor > 0)) throw badInput(`--latency-budget must be above 0, got '${text}'`);
  return { factor };
}

/**
 * A relative budget (--latency-budget 0.8x): the reference architecture timed here before the search, the
 * median of 5 timings (each the least of LATENCY_SESSIONS sessions), times the factor. With --confirm the
 * answer is held to the factor side by side with the reference, whatever the machine's pace then.
 */
async function timeReference(
  model: string,
  reference: Record<string, ParamValue>,
  factor: number,
  provider: string | undefined,
  io: Io,
  quiet: boolean | undefined,
): Promise<{ factor: number; referenceMs: number; budgetMs: number }> {
  const name = architectureName(
    model,
    Object.entries(reference).map(([k, v]) => [k.replace(/^model\./, ''), v] as const),
  );
  const built = architectureModel(name);
  if (!built) throw badInput(`cannot build the reference ${name} to time it; give --latency-budget as a time such as 0.5ms`);
  const times: number[] = [];
  for (let i = 0; i < 5; i++) times.push(await inferenceLatencyMs(built, 0, provider));
  const referenceMs = median(times);
  const budgetMs = factor * referenceMs;
  if (!quiet)
    io.stderr(
      `hone nas: --latency-budget ${factor}x: the reference (${name}) times ${referenceMs.toPrecision(3)} ms here (median of 5), so the budget is ${budgetMs.toPrecision(3)} ms\n`,
    );
  return { factor, referenceMs, budgetMs };
}

/** '0.5', '0.5ms', '500us' → milliseconds. */
export function parseMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*(ms|us|µs|s)?$/.exec(text.trim());
  if (!m) throw badInput(`--latency-budget must be a time such as 0.5, 0.5ms or 500us, got '${text}'`);
  const v = Number(m[1]) * ({ ms: 1, us: 1e-3, µs: 1e-3, s: 1000 }[(m[2] ?? 'ms') as 'ms'] ?? 1);
  if (!(v > 0)) throw badInput(`--latency-budget must be above 0, got '${text}'`);
  return v;
}

/**
 * A built-in space by name, a YAML file's { model, space }, or a space module's (nas/code-space.ts: its
 * options, and its reference when it exports one); a space with no architecture option is refused.
 */
export async function resolveSpace(
  spec: string,
  shared = false,
): Promise<{ model: string; space: Record<string, Distribution>; reference?: Record<string, ParamValue> }> {
  const builtIn = NAS_SPACES[spec];
  if (builtIn)
    return { model: builtIn.model, space: pinUnsearched(builtIn.model, { ...builtIn.space, ...(shared ? builtIn.shared : {}) }) };
  if (isCodeSpaceFile(spec)) {
    if (shared)
      throw badInput(
        `--weight-sharing masks the channels of the zoo's builders; a space module (${spec}) is searched by training each architecture: drop --weight-sharing`,
      );
    const cs = await loadCodeSpace(spec);
    const prefixed = <T>(o: Record<string, T>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [`model.${k}`, v]));
    return { model: `${CODE_PREFIX}${cs.path}`, space: prefixed(cs.space), ...(cs.reference ? { reference: prefixed(cs.reference) } : {}) };
  }
  if (!/\.ya?ml$/i.test(spec) || !existsSync(spec))
    throw badInput(
      `--space ${spec}: not a built-in space (${Object.keys(NAS_SPACES).join(', ')}), nor a YAML file or a space module (.mjs) that exists`,
    );
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(spec, 'utf8'));
  } catch (e) {
    throw badInput(`--space ${spec} is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  const o = (doc ?? {}) as Record<string, unknown>;
  if (typeof o.model !== 'string' || !o.model.startsWith('zoo:'))
    throw badInput(`--space ${spec} needs model: zoo:NAME[:fixed options] (the builder whose options are searched)`);
  for (const k of Object.keys(o))
    if (k !== 'model' && k !== 'space') throw badInput(`--space ${spec}: unknown key '${k}'; a space file has model and space`);
  const space = parseSpace(o.space, spec);
  const arch = Object.entries(space).filter(([k]) => k.startsWith('model.'));
  if (!arch.length)
    throw badInput(`--space ${spec} searches no architecture option: give space: { model.OPTION: { type: categorical, choices: [...] } }`);
  for (const [k, d] of Object.entries(space)) {
    if (!k.startsWith('model.'))
      throw badInput(`--space ${spec}: '${k}' is a training setting; a NAS space holds model.OPTION entries only (the recipe is fixed)`);
    if (d.type === 'categorical' && d.choices.length < 2 && arch.length === 1)
      throw badInput(`--space ${spec}: ${k} has one choice, so there is nothing to search`);
  }
  return { model: o.model, space: pinUnsearched(o.model, space) };
}

/**
 * The train objective searches a zoo model's size options by default (`hone tune`'s default space, e.g.
 * LeNet-5's activation); a NAS space searches what it lists and nothing else, so each default-searched
 * option it does not list (nor the model spec fix) is pinned to the zoo's default: one choice.
 */
function pinUnsearched(model: string, space: Record<string, Distribution>): Record<string, Distribution> {
  const zoo = zooParts(model);
  if (!zoo) return space;
  const pinned = { ...space };
  for (const [name, d] of Object.entries(defaultTrainSpace({ model, loss: 'cross-entropy' }))) {
    if (!name.startsWith('model.') || name in space) continue;
    const opt = zoo.info.options.find((o) => o.name === name.slice('model.'.length));
    if (!opt) continue;
    const value = d.type === 'categorical' ? d.choices.find((x) => String(x) === opt.default) : undefined;
    const typed = value ?? (opt.kind === 'int' || opt.kind === 'float' ? Number(opt.default) : opt.default);
    pinned[name] = { type: 'categorical', choices: [typed] };
  }
  return pinned;
}

function checkOutputDir(out: string): void {
  if (existsSync(out)) {
    if (!statSync(out).isDirectory()) throw badInput(`-o ${out} is a file; give a folder for model.onnx, front.json and the report`);
    const left = readdirSync(out).filter((f) => !['model.onnx', 'front.json', 'report.json', 'report.html'].includes(f));
    if (left.length) throw badInput(`-o ${out} holds other files (${left.slice(0, 3).join(', ')}); give a new or empty folder`);
  } else if (!existsSync(dirname(out))) throw badInput(`-o ${out}: its folder ${dirname(out)} does not exist`);
}
