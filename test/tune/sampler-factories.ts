import type { Sampler } from '../../src/tune/samplers/base.js';
import { RandomSampler } from '../../src/tune/samplers/random.js';
import { TPESampler } from '../../src/tune/samplers/tpe.js';
import { NSGAIISampler } from '../../src/tune/samplers/nsga2.js';
import { GPSampler } from '../../src/tune/samplers/gp.js';
import { CmaEsSampler } from '../../src/tune/samplers/cmaes.js';
import { QMCSampler } from '../../src/tune/samplers/qmc.js';

/** Every sampler under test, seeded; the shared sampler tests run on each. */
export const samplerFactories: Record<string, (seed: number) => Sampler> = {
  random: (seed) => new RandomSampler({ seed }),
  tpe: (seed) => new TPESampler({ seed }),
  'tpe-univariate': (seed) => new TPESampler({ seed, multivariate: false }),
  nsga2: (seed) => new NSGAIISampler({ seed, populationSize: 8 }),
  gp: (seed) => new GPSampler({ seed, nPreliminarySamples: 256, nLocalSearch: 2 }),
  cmaes: (seed) => new CmaEsSampler({ seed }),
  qmc: (seed) => new QMCSampler({ seed }),
};
