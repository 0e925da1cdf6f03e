// The layers of ARCHITECTURE.md, enforced by dependency-cruiser (npm run lint).
// Bottom first; folders on one line share a rank and may not import each other.
const LAYERS = [
  ['util'],
  ['format'],
  ['input', 'output'],
  ['check'],
  ['archive'],
  ['trim'],
  ['share', 'files'],
  ['optimize', 'unpack', 'pack', 'compare', 'delta', 'serve', 'restore'],
  ['hook'],
  ['cli'],
  ['sample'],
]

const forbidden = LAYERS.flatMap((names, rank) =>
  names.map(name => {
    const allowed = LAYERS.slice(0, rank).flat()
    return {
      name: `layer-${name}`,
      comment: `src/${name}/ may import only its own folder and the layers below it: ${allowed.join(', ') || 'none'} (ARCHITECTURE.md)`,
      severity: 'error',
      from: { path: `^src/${name}/` },
      to: { path: '^src/', pathNot: [`^src/${name}/`, ...allowed.map(a => `^src/${a}/`)] },
    }
  }),
)

forbidden.push({
  name: 'no-unknown-folder',
  comment: 'src/ holds only the layer folders of ARCHITECTURE.md and index.ts',
  severity: 'error',
  from: { path: '^src/' },
  to: { path: '^src/', pathNot: [`^src/(${LAYERS.flat().join('|')})/`, '^src/index\\.ts$'] },
})

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
  },
}
