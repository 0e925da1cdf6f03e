// vma-opt compare: how much two backups really differ, device by device and
// block by block, and what a block-level dedup store would have to add for B
// when it already holds A. Both archives are indexed (headers only for plain
// files, spooled otherwise) and then read cluster by cluster side by side,
// so memory stays at the index whatever the sizes, and blocks are compared
// byte for byte (exact, no hash collisions to worry about).

import { tmpdir } from 'node:os'
import type { Readable } from 'node:stream'
import { BLOCK_SIZE, CLUSTER_SIZE, SLOTS_PER_EXTENT } from '../format/constants.js'
import { clusterCount } from '../format/cluster-tracker.js'
import { VmaError } from '../util/errors.js'
import { openInput, type ArchiveInput } from '../input/archive-input.js'
import { indexArchive, type IndexedArchive } from '../archive/index-archive.js'
import { DeviceContents } from '../archive/device-contents.js'
import { deltaIdentities, identityOfIndexed } from '../archive/archive-identity.js'
import { identityDifference } from '../format/delta-identity.js'
import { isZero } from '../util/zero.js'
import { loadHasher } from '../util/hasher.js'
import { ClusterMix, MOD64, hex64 } from '../format/cluster-mix.js'
import type { VmaDevice } from '../format/header.js'

export interface BlockStats {
  /** 4 KiB blocks equal in A and B (zero in both included). */
  same: number
  /** Non-zero in both, different. */
  changed: number
  /** Non-zero in A, zero in B. */
  newlyZero: number
  /** Zero in A (or absent), non-zero in B. */
  newlyData: number
  /** Non-zero blocks of B. */
  dataB: number
  clustersSame: number
  clustersChanged: number
  /** Runs of consecutive changed clusters: how many separate places changed. */
  changedRuns: number
  /** Bytes of B a 4 KiB block store holding A adds: changed and new non-zero blocks. */
  added4k: number
  /** The same at 64 KiB granularity: changed clusters of B that are not all zero. */
  added64k: number
}

export interface DeviceComparison extends BlockStats {
  name: string
  sizeA: number | null
  sizeB: number | null
}

export interface ConfigComparison {
  name: string
  status: 'same' | 'different' | 'only in A' | 'only in B'
}

export interface Comparison {
  a: string
  b: string
  devices: DeviceComparison[]
  configs: ConfigComparison[]
  total: BlockStats
  /** Same devices, same content, same configs. */
  identical: boolean
}

export interface CompareOptions {
  stdin?: Readable
  tmpdir?: string
}

const emptyStats = (): BlockStats => ({
  same: 0,
  changed: 0,
  newlyZero: 0,
  newlyData: 0,
  dataB: 0,
  clustersSame: 0,
  clustersChanged: 0,
  changedRuns: 0,
  added4k: 0,
  added64k: 0,
})

/**
 * B is a delta: the content it compares as is summed into its content digest
 * on the way, which must be what the delta recorded for its target; a delta
 * whose data is damaged (one apply refuses) is refused here too.
 */
interface DeltaProof {
  mix: ClusterMix
  want: Map<string, string>
  label: string
}

async function compareDevice(name: string, ia: IndexedArchive, ib: IndexedArchive, proof?: DeltaProof): Promise<DeviceComparison> {
  const da = ia.header.deviceList.find(d => d.name === name)
  const db = ib.header.deviceList.find(d => d.name === name)
  const s: DeviceComparison = { name, sizeA: da?.size ?? null, sizeB: db?.size ?? null, ...emptyStats() }
  const clusters = Math.max(da ? clusterCount(da.size) : 0, db ? clusterCount(db.size) : 0)
  const A = new DeviceContents(ia, da)
  const B = new DeviceContents(ib, db)
  let inRun = false
  const bClusters = db ? clusterCount(db.size) : 0
  let sum = 0n
  for (let first = 0; first < clusters; first += SLOTS_PER_EXTENT) {
    const n = Math.min(SLOTS_PER_EXTENT, clusters - first)
    await A.read(first, n)
    await B.read(first, n)
    if (ib.tracker.delta && db) fillFromBase(A.buf, B.buf, first, n, db, ib)
    for (let i = 0; i < n; i++) {
      if (proof && first + i < bClusters) sum = (sum + proof.mix.term(B.buf, i * CLUSTER_SIZE, first + i)) & MOD64
      const c0 = i * CLUSTER_SIZE
      let changed = false
      let bData = false
      for (let j = 0; j < 16; j++) {
        const o = c0 + j * BLOCK_SIZE
        const zb = isZero(B.buf, o, o + BLOCK_SIZE)
        if (!zb) {
          s.dataB++
          bData = true
        }
        if (A.buf.compare(B.buf, o, o + BLOCK_SIZE, o, o + BLOCK_SIZE) === 0) {
          s.same++
          continue
        }
        changed = true
        const za = isZero(A.buf, o, o + BLOCK_SIZE)
        if (zb) s.newlyZero++
        else if (za) s.newlyData++
        else s.changed++
      }
      if (changed) {
        s.clustersChanged++
        if (bData) s.added64k += CLUSTER_SIZE
        if (!inRun) s.changedRuns++
      } else s.clustersSame++
      inRun = changed
    }
  }
  s.added4k = (s.changed + s.newlyData) * BLOCK_SIZE
  if (proof && db && hex64(sum) !== proof.want.get(name)) {
    const e = new VmaError('VMA_DELTA_DATA', -1, `the delta's data is damaged: applied to A, ${name} has digest ${hex64(sum)}, the delta recorded ${proof.want.get(name)}`)
    e.file = proof.label
    throw e
  }
  return s
}

/**
 * B is a delta on A: a cluster it does not hold is A's, cut to B's size
 * (spec/delta-format.md), so B compares as the archive it reproduces.
 */
function fillFromBase(a: Buffer, b: Buffer, first: number, n: number, db: VmaDevice, ib: IndexedArchive): void {
  for (let i = 0; i < n; i++) {
    const c = first + i
    if (ib.tracker.has(db.id, c)) continue
    const at = i * CLUSTER_SIZE
    const inside = Math.max(0, Math.min(CLUSTER_SIZE, db.size - c * CLUSTER_SIZE))
    a.copy(b, at, at, at + inside)
    b.fill(0, at + inside, at + CLUSTER_SIZE)
  }
}

/** A delta compares only as B, against the archive it applies to as A. */
async function checkDeltaBase(ia: IndexedArchive, ib: IndexedArchive, a: string, b: string): Promise<void> {
  if (ia.tracker.delta) throw new VmaError('VMA_USAGE', -1, `${a} is a delta: compare a delta as B, with the archive it applies to as A`)
  if (!ib.tracker.delta) return
  const why = identityDifference(deltaIdentities(ib.header, b).base, await identityOfIndexed(ia))
  if (why) throw new VmaError('VMA_DELTA_CHAIN', -1, `the delta ${b} does not apply to ${a}: ${why}`)
}

export async function compareArchives(a: string, b: string, o: CompareOptions = {}): Promise<Comparison> {
  if (a === '-' && b === '-') throw new VmaError('VMA_USAGE', -1, 'only one of A and B can be stdin')
  const spoolDir = o.tmpdir ?? tmpdir()
  const inputs: ArchiveInput[] = []
  const indexes: IndexedArchive[] = []
  try {
    for (const src of [a, b]) {
      const input = await openInput(src, { stdin: o.stdin })
      inputs.push(input)
      try {
        indexes.push(await indexArchive(input, { spoolDir, allowDelta: true }))
      } catch (e) {
        if (e instanceof VmaError) e.file ??= input.label
        throw e
      }
    }
    const [ia, ib] = indexes as [IndexedArchive, IndexedArchive]
    await checkDeltaBase(ia, ib, inputs[0]!.label, inputs[1]!.label)
    const names = [...new Set([...ia.header.deviceList.map(d => d.name), ...ib.header.deviceList.map(d => d.name)])]
    const devices: DeviceComparison[] = []
    const proof = ib.tracker.delta
      ? { mix: new ClusterMix(await loadHasher()), want: new Map(deltaIdentities(ib.header, inputs[1]!.label).target.devices.map(d => [d.name, d.digest])), label: inputs[1]!.label }
      : undefined
    for (const name of names) devices.push(await compareDevice(name, ia, ib, proof))
    const total = emptyStats()
    for (const d of devices) for (const k of Object.keys(total) as (keyof BlockStats)[]) total[k] += d[k]
    const configs: ConfigComparison[] = []
    for (const c of ia.header.configs) {
      const other = ib.header.configs.find(x => x.name === c.name)
      configs.push({ name: c.name, status: !other ? 'only in A' : other.data.equals(c.data) ? 'same' : 'different' })
    }
    for (const c of ib.header.configs) if (!ia.header.configs.some(x => x.name === c.name)) configs.push({ name: c.name, status: 'only in B' })
    const identical = configs.every(c => c.status === 'same') && devices.every(d => d.sizeA === d.sizeB && d.clustersChanged === 0)
    return { a: inputs[0]!.label, b: inputs[1]!.label, devices, configs, total, identical }
  } finally {
    for (const i of indexes) await i.release()
    for (const i of inputs) await i.close()
  }
}
