import type { GradRule } from './types.js';

const rules = new Map<string, GradRule>();

const key = (domain: string | undefined, opType: string) => `${domain === 'ai.onnx' ? '' : (domain ?? '')}::${opType}`;

export function registerGradRules(list: readonly GradRule[]): void {
  for (const rule of list) for (const t of rule.opTypes) rules.set(key(rule.domain, t), rule);
}

export function getGradRule(domain: string | undefined, opType: string): GradRule | undefined {
  return rules.get(key(domain, opType));
}

export function gradOpTypes(): string[] {
  return [...rules.keys()].map((k) => k.replace(/^::/, '')).sort();
}
