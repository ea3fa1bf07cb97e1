/** Pruning: unstructured magnitude (masks, gradual schedule, sparse storage), structured channels with coupled layers rewritten, and attention heads. */
export { analyzeChannels, type ChannelAnalysis, type ChannelGroup, type ChannelSlice, type Carrier, type Segment } from './channels.js';
export { channelImportance, selectChannels, removeChannels, zeroChannels, type Criterion, type SelectOptions } from './structured.js';
export {
  prunableWeights,
  weightMasks,
  magnitudeMasks,
  applyMasks,
  maskInPlace,
  weightSparsity,
  polynomialSparsity,
} from './magnitude.js';
export { pruneModel, type PruneOptions, type PruneReport, type FinetuneOptions } from './prune.js';
export { PRUNE_PASSES, pruneMagnitudePass, pruneChannelsPass, pruneHeadsPass } from './passes.js';
export { analyzeHeads } from './heads.js';
