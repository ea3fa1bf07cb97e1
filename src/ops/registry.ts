/**
 * The op registry: one entry per (domain, op type), holding everything its family file defines. The
 * queries below are how the rest of Hone reads per-op knowledge; importing `ops/index.ts` fills it.
 */
import type { GradRule } from './grad/types.js';
import type { OpProps, OpRule, QuantRule } from './types.js';

const rules = new Map<string, OpRule>();

const key = (domain: string | undefined, opType: string) => `${domain === 'ai.onnx' ? '' : (domain ?? '')}::${opType}`;

/** Registers rules, each under every op type it lists (a later registration of an op replaces the earlier). */
export function registerOps(list: readonly OpRule[]): void {
  for (const rule of list) for (const t of rule.opTypes) rules.set(key(rule.domain, t), rule);
}

export function getOpRule(domain: string | undefined, opType: string): OpRule | undefined {
  return rules.get(key(domain, opType));
}

/** Registered ops as 'domain::OpType' ('' for ai.onnx), sorted. */
export function knownOpTypes(): string[] {
  return [...rules.keys()].sort();
}

const NONE: OpProps = Object.freeze({});

/** The properties of an op; none for an op Hone does not know. */
export function opProps(domain: string | undefined, opType: string): OpProps {
  return getOpRule(domain, opType)?.props ?? NONE;
}

/** How an op quantizes; undefined when the quantizer leaves it in float (or does not know it). */
export function quantRule(domain: string | undefined, opType: string): QuantRule | undefined {
  return getOpRule(domain, opType)?.quant;
}

/** The gradient rule of an op; undefined when it has none. */
export function gradRule(domain: string | undefined, opType: string): GradRule | undefined {
  return getOpRule(domain, opType)?.grad;
}

/**
 * The op type names, of any domain, whose properties pass `pick`: sorted, each once. For lists matched
 * against names alone, such as the op types of a runtime trace.
 */
export function opTypesWhere(pick: (props: OpProps) => boolean): string[] {
  const out = new Set<string>();
  for (const [k, rule] of rules) if (rule.props && pick(rule.props)) out.add(k.slice(k.indexOf('::') + 2));
  return [...out].sort();
}
