/**
 * Pruning rules several op families share (see `PruneRule` in types.ts): ops that keep channels where they
 * are (pools) and the weighted ops' forms (a filter per output channel, an input-channel axis).
 */
import type { PruneContext, PruneFlow, PruneRule, PruneSlice } from './types.js';

/** Input 0's channels on axis 1 reach output 0 on axis 1 unchanged (pools over the spatial axes). */
export const channelsThrough: PruneRule = {
  flow: (ctx, input, axis) => (input === 0 && axis === 1 && ctx.node.output.length === 1 ? through(axis, []) : undefined),
};

/**
 * Per-channel parameters along axis 1 (BatchNormalization's scale, bias, mean and variance; InstanceNormalization's
 * scale and bias): the channels pass through, each parameter loses the same slices. `weight` names the scale.
 */
export function perChannelParams(inputs: readonly number[], weight: number): PruneRule {
  return {
    flow: (ctx, input, axis) =>
      input === 0 && axis === 1 && ctx.node.output.length === 1 && inputs.every((i) => ctx.isConstant(i))
        ? through(
            1,
            inputs.map((i) => slice(i, 0, i === weight ? 'weight' : 'other')),
          )
        : undefined,
  };
}

export function through(axis: number, slices: PruneSlice[], groups?: boolean): PruneFlow {
  return groups ? { kind: 'through', axis, slices, groups } : { kind: 'through', axis, slices };
}

export function slice(input: number, axis: number, role: PruneSlice['role'] = 'weight'): PruneSlice {
  return { input, axis, role };
}

/** Slice of an optional bias input when present (and constant). */
export function biasSlice(ctx: PruneContext, input: number, axis = 0): PruneSlice[] {
  return (ctx.node.input[input] ?? '') !== '' ? [slice(input, axis, 'other')] : [];
}
