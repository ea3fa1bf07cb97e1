/**
 * Search-space types shared by the tuner (src/tune) and the layers below it that declare what can be
 * tuned (a pass's options, src/passes): defined here, at the bottom, so that a pass can state its space
 * in the tuner's own types without importing a higher layer.
 */
export type Distribution =
  | { type: 'float'; low: number; high: number; log: boolean; step?: number }
  | { type: 'int'; low: number; high: number; log: boolean; step: number }
  | { type: 'categorical'; choices: (string | number | boolean | null)[] };

export type ParamValue = string | number | boolean | null;
