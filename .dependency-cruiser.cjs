// The layers of docs/design.md as an import rule: a module imports only from its own layer or lower ones,
// so a wrong arrow fails CI (npm run lint) instead of waiting for review. Lowest first; folders of one
// layer may import each other.
const LAYERS = [
  ['errors.ts', 'util'],
  ['ir'],
  ['ops'],
  ['runtime', 'data', 'zoo'],
  ['profile'],
  ['passes', 'quantize'],
  ['train', 'prune', 'distill', 'qat', 'distributed'],
  ['tune'],
  ['nas'],
  ['optimize'],
  ['report'],
  ['dashboard'],
  ['cli'],
  ['index.ts'],
];

const path = (names) => `^src/(${names.map((n) => n.replace('.', '\\.')).join('|')})($|/)`;

module.exports = {
  forbidden: [
    ...LAYERS.slice(0, -1).map((layer, i) => ({
      name: `layer-${layer.join('-').replace('.ts', '')}`,
      comment: `${layer.join(', ')} may not import a higher layer (${LAYERS.slice(i + 1)
        .flat()
        .join(', ')}); see docs/design.md, Layers`,
      severity: 'error',
      from: { path: path(layer) },
      to: { path: path(LAYERS.slice(i + 1).flat()) },
    })),
    {
      name: 'no-unknown-layer',
      comment: 'every folder under src/ belongs to a layer: add a new one to LAYERS in .dependency-cruiser.cjs and to docs/design.md',
      severity: 'error',
      from: { path: '^src/', pathNot: path(LAYERS.flat()) },
      to: {},
    },
    {
      name: 'no-import-of-unknown-layer',
      comment: 'every folder under src/ belongs to a layer: add a new one to LAYERS in .dependency-cruiser.cjs and to docs/design.md',
      severity: 'error',
      from: {},
      to: { path: '^src/', pathNot: path(LAYERS.flat()) },
    },
    {
      name: 'no-circular',
      comment: 'an import cycle (type-only imports excepted: they vanish at run time); break it by moving the shared part down a layer',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'src-not-from-tests',
      comment: 'library code may not import test, bench or script code',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
