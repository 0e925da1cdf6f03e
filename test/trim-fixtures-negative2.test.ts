// Negative fixtures, second half, and the whole-disk positive: the volume in doubt is skipped with a reason
// and stays byte-identical, the control volume beside it is still trimmed.
import t from 'tap'
import { fixturesMissing, manifest } from './trim-helpers.js'
import { checkImage } from './trim-fixture-check.js'

const missing = fixturesMissing()
if (missing) t.plan(0, missing)
else {
  const negatives = manifest()
    .filter(i => i.name.startsWith('neg-'))
    .sort((a, b) => a.name.localeCompare(b.name))
  for (const im of [...negatives.slice(6), ...manifest().filter(i => i.name === 'pos-whole-disk-ext4')]) {
    t.test(im.name, async t => {
      const { plan } = await checkImage(t, im, { journal: 'strict', lvmFree: false }, t.testdir())
      for (const v of plan.report.disks[0]!.volumes) if (v.decision === 'skip') t.ok(v.reason, `${v.id} skip has a reason: ${v.reason}`)
    })
  }
}
