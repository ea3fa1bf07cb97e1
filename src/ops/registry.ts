import type { OpRule } from './types.js';

const rules = new Map<string, OpRule>();

const key = (domain: string | undefined, opType: string) => `${domain === 'ai.onnx' ? '' : (domain ?? '')}::${opType}`;

export function registerOps(list: readonly OpRule[]): void {
  for (const rule of list) for (const t of rule.opTypes) rules.set(key(rule.domain, t), rule);
}

export function getOpRule(domain: string | undefined, opType: string): OpRule | undefined {
  return rules.get(key(domain, opType));
}

export function knownOpTypes(): string[] {
  return [...rules.keys()].sort();
}
