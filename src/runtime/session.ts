/**
 * ONNX Runtime sessions with Hone's options and error style: every load failure becomes a one-line
 * HoneError that keeps only the part of ORT's message a person can act on.
 */
import * as ort from 'onnxruntime-node';
import type { ModelProto } from '../ir/proto.js';
import { encodeModel } from '../ir/codec.js';
import { HoneError, badInput, errorMessage } from '../errors.js';
import { checkProvider } from './providers.js';

export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

export interface SessionOpts {
  /** Execution provider; 'cpu' (default), 'cuda', 'tensorrt', 'webgpu'… checked with `checkProvider`. */
  provider?: string;
  intraOpThreads?: number;
  interOpThreads?: number;
  graphOptimizationLevel?: GraphOptimizationLevel;
  /** Write an ORT Chrome trace: a file path prefix (ORT appends a timestamp and `.json`). */
  profilePrefix?: string;
  enableMemPattern?: boolean;
  enableCpuMemArena?: boolean;
  executionMode?: 'sequential' | 'parallel';
  /**
   * ORT graph optimizers to leave out, by the names ORT gives them ('SkipLayerNormFusion'…): the session
   * config entry `optimization.disable_specified_optimizers`.
   */
  disabledOptimizers?: readonly string[];
}

/**
 * Creates a session over a model: a ModelProto (encoded once here), its bytes, or the path of an .onnx
 * file (the way to run a model with external data, which ORT reads from beside the file).
 */
export async function createSession(model: ModelProto | Uint8Array | string, opts: SessionOpts = {}): Promise<ort.InferenceSession> {
  const source = typeof model === 'string' || model instanceof Uint8Array ? model : encodeModel(model);
  const options = sessionOptions(opts);
  try {
    return await (typeof source === 'string' ? ort.InferenceSession.create(source, options) : ort.InferenceSession.create(source, options));
  } catch (e) {
    throw ortLoadError(e, opts.provider ?? 'cpu');
  }
}

/** Hone's options as ORT SessionOptions. Validates the provider first. */
export function sessionOptions(opts: SessionOpts): ort.InferenceSession.SessionOptions {
  const provider = checkProvider(opts.provider ?? 'cpu');
  const o: ort.InferenceSession.SessionOptions = {
    executionProviders: [provider],
    graphOptimizationLevel: opts.graphOptimizationLevel ?? 'all',
    // 4 = fatal only: ORT's warnings (e.g. about unused initializers) and its log of a failed run would
    // otherwise go straight to stderr; every error also comes back as an exception, which Hone reports.
    logSeverityLevel: 4,
  };
  if (opts.intraOpThreads !== undefined) o.intraOpNumThreads = positiveInt(opts.intraOpThreads, 'intraOpThreads');
  if (opts.interOpThreads !== undefined) o.interOpNumThreads = positiveInt(opts.interOpThreads, 'interOpThreads');
  if (opts.enableMemPattern !== undefined) o.enableMemPattern = opts.enableMemPattern;
  if (opts.enableCpuMemArena !== undefined) o.enableCpuMemArena = opts.enableCpuMemArena;
  if (opts.executionMode !== undefined) o.executionMode = opts.executionMode;
  if (opts.disabledOptimizers?.length) o.extra = disabledOptimizersExtra(opts.disabledOptimizers);
  if (opts.profilePrefix !== undefined) {
    o.enableProfiling = true;
    o.profileFilePrefix = opts.profilePrefix;
  }
  return o;
}

/** SessionOptions.extra that turns ORT graph optimizers off (the session config entry, which ORT-node flattens to dotted keys). */
export function disabledOptimizersExtra(names: readonly string[]): Record<string, unknown> {
  return { optimization: { disable_specified_optimizers: names.join(',') } };
}

function positiveInt(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0) throw badInput(`${what} must be an integer >= 0 (0 = ORT's default), got ${n}`);
  return n;
}

/** ORT's session-creation error as a one-line HoneError. */
export function ortLoadError(e: unknown, provider: string): HoneError {
  const msg = cleanOrtMessage(errorMessage(e));
  if (/protobuf parsing failed/i.test(msg)) {
    return badInput('onnxruntime cannot parse the model (protobuf parsing failed); check that the file is a complete .onnx model', e);
  }
  const noKernel = /No Op registered for (\S+) with domain_version of (\d+)/i.exec(msg);
  if (noKernel) {
    return badInput(
      `onnxruntime has no kernel for op '${noKernel[1]}' at opset ${noKernel[2]}; replace that op or export the model with a supported opset`,
      e,
    );
  }
  if (/RequestAdapter/.test(msg)) {
    return badInput(
      `onnxruntime cannot start the '${provider}' provider: no GPU adapter was found (no usable GPU or driver on this machine); use --provider cpu`,
      e,
    );
  }
  if (
    /Failed to load (shared )?library|providers_shared/i.test(msg) ||
    (provider !== 'cpu' && errorMessage(e).includes(`/providers/${provider}/`))
  ) {
    return badInput(
      `onnxruntime cannot start the '${provider}' provider (${shorten(msg, 120)}); use --provider cpu or install its libraries`,
      e,
    );
  }
  return badInput(`${LOAD_REFUSED} ${shorten(msg, 240)}${LOAD_FIX}`, e);
}

const LOAD_REFUSED = 'onnxruntime cannot load the model:';
const LOAD_FIX = "; fix the model (run 'hone profile --no-dynamic' for a static check)";

/** A model-load refusal's message (isModelLoadError) without Hone's advice to fix the model: for messages that give their own. */
export function withoutLoadFix(message: string): string {
  return message.endsWith(LOAD_FIX) ? message.slice(0, -LOAD_FIX.length) : message;
}

/** ORT's own words in a model-load refusal's message, without Hone's prefix and advice. */
export function modelLoadReason(message: string): string {
  const m = withoutLoadFix(message);
  return m.startsWith(LOAD_REFUSED) ? m.slice(LOAD_REFUSED.length).trimStart() : m;
}

/**
 * True for ORT's refusal of the model itself (its graph failed checks or shape inference), as opposed to a
 * missing kernel, provider or file: another form of the same model may load (see loadable.ts). Read from
 * the message, so it holds for errors rethrown from a measurement worker too.
 */
export function isModelLoadError(e: unknown): e is HoneError {
  return e instanceof HoneError && e.message.startsWith(LOAD_REFUSED);
}

/** ORT's error for a failed run as a one-line HoneError; `fix` (what to try) goes last. */
export function ortRunError(e: unknown, context: string, fix?: string): HoneError {
  return badInput(
    `onnxruntime failed to run the model ${context}: ${shorten(cleanOrtMessage(errorMessage(e)), 240)}${fix ? `; ${fix}` : ''}`,
    e,
  );
}

/**
 * Strips what ORT puts around the essential message: `[ONNXRuntimeError] : 1 : FAIL :` codes, source
 * paths with line numbers and function names, the "This is an invalid model." preamble, and newlines.
 */
export function cleanOrtMessage(msg: string): string {
  let m = msg.replace(/\s+/g, ' ');
  m = m.replace(/\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*[A-Z_]+\s*:\s*/g, '');
  m = m.replace(/\S*onnxruntime_src\/\S+:\d+\s+/g, '');
  m = stripSignature(m);
  m = m.replace(/^This is an invalid model\.\s*/, '');
  // "In Node, (name, Op, domain, -1) : (inputs) -> (outputs) , Error <what>" → "<what> (in node name)".
  const inNode = /^In Node, \("([^"]*)", ([^,]+), [^)]*\)\s*:.*?,\s*Error\s+(.*)$/.exec(m);
  if (inNode) m = `${inNode[3]} (node '${inNode[1]}', ${inNode[2]})`;
  m = innermostRunError(m);
  return m.trim().replace(/[.\s]+$/, '');
}

const RUN_FAILED = /Non-zero status code returned while running (\S+) node\. Name:'([^']*)' Status Message: /g;

/**
 * A run error inside a subgraph comes wrapped once per enclosing node ("Non-zero status code returned while
 * running If node. Name:'If_0' Status Message: Non-zero status code … LSTM node. Name:'…' Status Message:
 * Input initial_h must have shape {1,2,128}. Actual:{1,1,128}"): the cause first, then where, innermost
 * node first, so that shortening the message cuts the path rather than the cause.
 */
function innermostRunError(m: string): string {
  const nodes = [...m.matchAll(RUN_FAILED)];
  if (!nodes.length) return m;
  const last = nodes[nodes.length - 1]!;
  const cause = m
    .slice(last.index! + last[0].length)
    .trim()
    .replace(/[.\s]+$/, '');
  const where = nodes
    .reverse()
    .map((n) => `${n[1]} '${n[2]}'`)
    .join(' in ');
  return `${cause} (in ${where})`;
}

/** Drops a leading C++ function signature (`ns::Class::Fn(const T&)::<lambda()> `) left by ORT's asserts. */
function stripSignature(m: string): string {
  if (!/^[\w~]+::/.test(m) && !/^[\w:<>~*& ]+ [\w~]+::[\w~]+\(/.test(m)) return m;
  let depth = 0;
  for (let i = 0; i < m.length; i++) {
    const c = m[i];
    if (c === '(' || c === '<') depth++;
    else if (c === ')' || c === '>') depth--;
    else if (c === ' ' && depth === 0 && /[)>]$/.test(m.slice(0, i))) return m.slice(i + 1);
  }
  return m;
}

function shorten(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}
