/** What `optimizeModel` takes and returns, and what `hone optimize` writes to candidates.json and report.json. */
import type { ModelProto } from '../ir/proto.js';
import type { PassOptions } from '../passes/pass.js';
import type { Pass } from '../passes/pass.js';
import type { InputValue } from '../runtime/inputs.js';
import type { PerOpComparison } from './per-op.js';

export type OptimizeGoal = 'latency' | 'throughput' | 'size';
/** Where the model will run: onnxruntime-node, or onnxruntime-web (WASM) in a browser, timed in headless Chromium. */
export type OptimizeTarget = 'node' | 'browser';

export interface OptimizeJob {
  /** A ModelProto, a .onnx path, or `zoo:NAME[:k=v,…]`. */
  model: ModelProto | string;
  /** Calibration/evaluation data: a .npy/.npz path, a folder of .npy, or 'mnist'. Without it: data-free passes, synthetic inputs. */
  data?: string;
  /** Use at most this many samples of the data (default 256 for calibration, 1000 for evaluation). */
  samples?: number;
  /** Where candidates are timed and chosen for (default 'node'). */
  target?: OptimizeTarget;
  /** What to optimize (default 'latency'). */
  goal?: OptimizeGoal;
  /** Most accuracy lost: points with labelled data, else 100·(1 − output cosine) (default 1). */
  maxAccuracyDrop?: number;
  /** Seconds the search may take (the profile and the final side-by-side proof come on top); default 900. */
  budget?: number;
  /** Most tuner trials after the screening (default 200): the search ends at this or the budget, whichever comes first. */
  maxTrials?: number;
  dims?: Record<string, number>;
  shapes?: Record<string, number[]>;
  values?: Record<string, InputValue>;
  /** Batch sizes: the first is timed for the latency and size goals, all of them for throughput. */
  batchSizes?: number[];
  /** Intra-op threads fixed by the user (0 or absent: searched). */
  threads?: number;
  provider?: string;
  /** Timed runs per block and warm-up runs before them (defaults 20 and 3). */
  runs?: number;
  warmup?: number;
  /** The pass pipeline cache (default ~/.cache/hone/passes). */
  cacheDir?: string;
  /**
   * The search's study in SQLite (`hone optimize` keeps it at OUT_DIR/study.db); a study already there is
   * replaced unless `resume`. Without it the study is kept in memory.
   */
  studyPath?: string;
  /** Continue the study at `studyPath`: its trials inform the search and its best are timed again. */
  resume?: boolean;
  /** Passes searched over (default PASSES, PRUNE_PASSES and QAT_PASSES, the last two listed but not searched: they train). */
  passes?: readonly Pass[];
  onProgress?: (message: string) => void;
  signal?: AbortSignal;
}

/**
 * The ORT session settings a candidate runs with (absent threads: ORT's default, one per physical core;
 * absent mode, arena and pattern: ORT's defaults, sequential with both on).
 */
export interface RuntimeSettings {
  intraOpThreads?: number;
  graphOptimizationLevel: 'basic' | 'extended' | 'all';
  executionMode?: 'sequential' | 'parallel';
  /** Threads running independent nodes at once (parallel mode only). */
  interOpThreads?: number;
  enableCpuMemArena?: boolean;
  enableMemPattern?: boolean;
  /** ORT graph optimizers turned off (onnxruntime-node only; see ORT_FUSIONS_OFF in search.ts). */
  disabledOptimizers?: string[];
}

export interface CandidateStep {
  pass: string;
  options: PassOptions;
  status: 'applied' | 'unchanged' | 'skipped';
  reason?: string;
  summary?: string;
  cache?: 'hit' | 'miss' | 'off';
}

export interface Fidelity {
  samples: number;
  cosine: number;
  /** Accuracy points (labelled data) or 100·(1 − cosine): what `maxAccuracyDrop` bounds. */
  drop: number;
  maxAbsError?: number;
  top1Agreement?: number;
  accuracy?: { float: number; optimized: number };
}

export interface Candidate {
  id: string;
  /** The passes planned, in order (`steps` says which applied). */
  passes: string[];
  steps: CandidateStep[];
  settings: RuntimeSettings;
  batchSize: number;
  /**
   * measured: timed side by side with the baseline (and, if it passed the cheap check, its full fidelity);
   * rejected: failed (a pass error, ORT refused it, or the accuracy constraint), `reason` says which;
   * skipped: not tried (the budget ran out, identical to another candidate…), `reason` says why.
   */
  status: 'measured' | 'rejected' | 'skipped';
  reason?: string;
  chosen?: boolean;
  metrics: {
    /** Encoded model bytes. */
    bytes?: number;
    /** Fidelity on a few samples, the cheap first check. */
    quick?: Fidelity;
    full?: Fidelity;
    /** The least block floor over every block this candidate was timed in, ms. */
    latencyMs?: number;
    blocks?: number;
    /** Items per second at `batchSize`. */
    throughput?: number;
    /** Baseline latency / this latency at the same batch size (throughput: best throughput / the baseline's best). */
    speedup?: number;
  };
}

export interface BaselineRecord {
  /** ORT fp32, the model as given, default session settings. */
  settings: RuntimeSettings;
  bytes: number;
  byBatch: { batchSize: number; latencyMs: number; throughput: number; blocks: number }[];
}

export interface OptimizeReport {
  tool: 'hone optimize';
  source: string;
  target: OptimizeTarget;
  goal: OptimizeGoal;
  maxAccuracyDrop: number;
  /** 'accuracy points' with labelled data, else '100·(1 − cosine)'. */
  metric: string;
  data: { calibration?: string; evaluation: string; note?: string };
  budgetSeconds: number;
  /** Seconds the search took (profile included) and the whole run. */
  searchSeconds: number;
  totalSeconds: number;
  budgetExhausted: boolean;
  profile?: {
    batchSize: number;
    latencyMs: number;
    verdict: string;
    summary: string;
    /** The profile's advice; `pass` names the pass that carries it out, `condition` the verdict it assumes. */
    advice: { id: string; action: string; expectedSpeedup: number; pass?: string; condition?: string }[];
  };
  /** Every pass of the registry, and whether it applies to the model (and why not). */
  passes: { id: string; applies: boolean; reason?: string; used: boolean; why?: string }[];
  baseline: BaselineRecord;
  /** Undefined when nothing beat the baseline: then the model written is the input and nothing is claimed. */
  chosen?: ChosenModel;
  /**
   * When nothing met the accuracy constraint: the candidate closest to it (least drop), timed side by side
   * with the baseline, if it beats it; written as OUT_DIR/missed-goal.onnx, beside the input as model.onnx.
   */
  missedGoal?: ChosenModel & { file: typeof MISSED_GOAL_FILE };
  /**
   * Per-op kernel time of the model as given and of the chosen one, from a traced profile of each at one
   * batch size (per-op.ts); absent when nothing was chosen.
   */
  perOp?: PerOpComparison;
  /** One line: what was found, or why nothing was claimed. */
  conclusion: string;
  counts: { candidates: number; measured: number; rejected: number; skipped: number };
  notes: string[];
  /** `loadAverage`: the 1-minute load average, the larger of the start's and the end's. */
  machine: {
    cpu: string;
    cores: number;
    ort: string;
    loadAverage: number;
    /** The browser target's Chromium and onnxruntime-web. */
    browser?: { chromium: string; ortWeb: string; threadsAvailable: boolean };
  };
}

/** A model the run measured and wrote: its passes, the settings to run it with, and what it measured. */
export interface ChosenModel {
  candidate: string;
  passes: string[];
  settings: RuntimeSettings;
  batchSize: number;
  /** The ORT SessionOptions that go with the model. */
  sessionOptions: Record<string, unknown>;
  latencyMs: number;
  speedup: number;
  throughput: number;
  bytes: number;
  fidelity: Fidelity;
  /**
   * The model as given at these settings, timed side by side in the confirmation rounds: what the session
   * settings alone give (`speedup` over the baseline, as the chosen one's); the passes give the rest,
   * speedup / settingsAlone.speedup. Absent when the chosen model is the model as given, or for --goal size.
   */
  settingsAlone?: { latencyMs: number; speedup: number; blocks: number };
}

/** The file of `OptimizeReport.missedGoal` in OUT_DIR. */
export const MISSED_GOAL_FILE = 'missed-goal.onnx';

export interface OptimizeResult {
  /** The chosen model, or the input when nothing beat the baseline. */
  model: ModelProto;
  /** The model of `report.missedGoal` (the accuracy constraint missed), when there is one. */
  missedGoal?: ModelProto;
  report: OptimizeReport;
  candidates: Candidate[];
}
