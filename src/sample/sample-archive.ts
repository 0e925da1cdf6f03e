// Writes realistic test archives the way Proxmox does: a random uuid, 58
// clusters per extent, devices interleaved in bursts, some clusters out of
// order (copy-before-write), zero blocks left out. Content is a pure function
// of (seed, device, cluster, generation), so two "days" of the same VM can
// share everything but the clusters that changed. Used by the demo, the
// benchmarks and the dedup tests; not by the format tests (those use
// test/fixtures/make-vma.ts, built from the spec alone).

import { createCipheriv, createHash, randomBytes } from 'node:crypto'
import { open } from 'node:fs/promises'
import { BLOCK_SIZE, CLUSTER_SIZE, EXTENT_HEADER_SIZE } from '../format/constants.js'
import { ExtentHeader, popcount16 } from '../format/extent-header.js'
import { VmaHeader } from '../format/header.js'
import { packNonZeroBlocks } from '../format/block-mask.js'

export interface SampleDevice {
  name: string
  size: number
}

export interface SampleOptions {
  devices: SampleDevice[]
  configs?: { name: string; data: string | Buffer }[]
  seed?: number
  /** Seed of the cluster order (default: seed); Proxmox's order differs on every run. */
  orderSeed?: number
  /** 'proxmox': interleaved with some out-of-order clusters; 'shuffled'; 'sorted'. */
  order?: 'proxmox' | 'shuffled' | 'sorted'
  uuid?: Buffer
  ctime?: number
  /** Clusters whose content differs: "the next day's" changes. */
  changed?: (devId: number, cluster: number) => boolean
  /** Share of 16-cluster regions that hold data (0..1); default 0.6. */
  fill?: number
}

const TEXT = Buffer.from('Nov 21 22:46:19 pve kernel: [12345.678901] EXT4-fs (sda1): mounted filesystem with ordered data mode. Opts: (null)\n'.repeat(80))
const KEY = Buffer.alloc(16, 7)

function hash32(...parts: number[]): number {
  const h = createHash('md5')
  for (const p of parts) h.update(String(p) + ',')
  return h.digest().readUInt32LE(0)
}

/** Fills `out` (64 KiB) with the content of one cluster. */
export function sampleCluster(out: Buffer, seed: number, devId: number, cluster: number, generation: number, fill: number): void {
  out.fill(0)
  // Regions of 16 clusters share a kind, so disks have runs of data and holes.
  const kind = hash32(seed, devId, cluster >> 4) % 100
  if (kind >= fill * 100) return // all zero
  const iv = Buffer.alloc(16)
  iv.writeUInt32LE(seed, 0)
  iv.writeUInt32LE(devId, 4)
  iv.writeUInt32LE(cluster, 8)
  iv.writeUInt32LE(generation, 12)
  const random = createCipheriv('aes-128-ctr', KEY, iv).update(out) // out is zeros: the keystream
  const pattern = hash32(seed, devId, cluster, generation)
  for (let j = 0; j < 16; j++) {
    const at = j * BLOCK_SIZE
    if (kind % 3 === 0)
      random.copy(out, at, at, at + BLOCK_SIZE) // incompressible
    else if (kind % 3 === 1) {
      const from = (j * 97 + cluster + generation * 13) % 1024
      TEXT.copy(out, at, from, from + BLOCK_SIZE) // text, stamped so blocks differ like real files
      out.write(`inode ${devId}:${cluster}:${j}:${generation} `, at, 'latin1')
    } else if ((pattern >>> j) & 1) random.copy(out, at, at, at + 512) // scattered partial blocks
  }
}

/** The order clusters are written in, as devId * 2^32 + cluster. */
function clusterOrder(devs: { id: number; clusters: number }[], order: SampleOptions['order'], seed: number): Float64Array {
  const total = devs.reduce((a, d) => a + d.clusters, 0)
  const out = new Float64Array(total)
  let r = seed >>> 0 || 1
  const rand = () => {
    r ^= r << 13
    r >>>= 0
    r ^= r >>> 17
    r ^= r << 5
    r >>>= 0
    return r / 4294967296
  }
  let n = 0
  if (order === 'sorted') {
    for (const d of devs) for (let c = 0; c < d.clusters; c++) out[n++] = d.id * 2 ** 32 + c
    return out
  }
  // Per device, the order a live backup copies in: 64 KiB clusters in 1 MiB
  // chunks, 16 chunks in flight at a time finishing in any order.
  const perDevice = devs.map(d => {
    const seq = new Float64Array(d.clusters)
    let k = 0
    for (let w = 0; w < d.clusters; w += 256) {
      const chunks = Array.from({ length: Math.ceil(Math.min(256, d.clusters - w) / 16) }, (_, i) => i)
      if (order === 'shuffled') chunks.reverse()
      for (let i = chunks.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1))
        ;[chunks[i], chunks[j]] = [chunks[j]!, chunks[i]!]
      }
      for (const ch of chunks) for (let c = w + ch * 16; c < Math.min(w + ch * 16 + 16, d.clusters); c++) seq[k++] = d.id * 2 ** 32 + c
    }
    return seq
  })
  // Devices interleave in bursts of 1..8 clusters.
  const next = devs.map(() => 0)
  while (n < total) {
    devs.forEach((d, i) => {
      const burst = 1 + Math.floor(rand() * 8)
      for (let k = 0; k < burst && next[i]! < d.clusters; k++) out[n++] = perDevice[i]![next[i]!++]!
    })
  }
  // Copy-before-write: the guest writes a cluster not yet copied, and its old
  // content goes into the archive at once: about 1% of clusters come early.
  // 'shuffled' moves every cluster anywhere instead.
  if (order === 'shuffled') {
    for (let i = total - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1))
      const t = out[i]!
      out[i] = out[j]!
      out[j] = t
    }
  } else {
    for (let k = 0; k < Math.floor(total * 0.01); k++) {
      const i = Math.floor(rand() * total)
      const j = Math.floor(rand() * i)
      const moved = out[i]!
      out.copyWithin(j + 1, j, i)
      out[j] = moved
    }
  }
  return out
}

/** Writes a sample archive to `path`; returns its size. */
export async function writeSampleArchive(path: string, o: SampleOptions): Promise<number> {
  const seed = o.seed ?? 1
  const fill = o.fill ?? 0.6
  const devs = o.devices.map((d, i) => ({ id: i + 1, name: d.name, size: d.size, clusters: Math.ceil(d.size / CLUSTER_SIZE) }))
  const uuid = o.uuid ?? randomBytes(16)
  const header = VmaHeader.encode({
    uuid,
    ctime: o.ctime ?? Math.floor(Date.now() / 1000),
    configs: (o.configs ?? [{ name: 'qemu-server.conf', data: defaultConfig(devs) }]).map(c => ({ name: c.name, data: Buffer.from(c.data) })),
    devices: devs,
  })
  const order = clusterOrder(devs, o.order ?? 'proxmox', o.orderSeed ?? seed)
  const fh = await open(path, 'w')
  try {
    await fh.write(header, 0, header.length, 0)
    let pos = header.length
    const perExtent = 58 // as Proxmox writes
    const buf = Buffer.alloc(EXTENT_HEADER_SIZE + perExtent * CLUSTER_SIZE)
    const cluster = Buffer.alloc(CLUSTER_SIZE)
    const masks = new Uint16Array(perExtent)
    const ids = new Uint8Array(perExtent)
    const nums = new Uint32Array(perExtent)
    const sizeOf = new Map(devs.map(d => [d.id, d.size]))
    // A diskless archive is the header plus one empty extent.
    for (let i = 0; i < Math.max(order.length, 1); i += perExtent) {
      const n = Math.min(perExtent, order.length - i)
      let data = EXTENT_HEADER_SIZE
      for (let k = 0; k < n; k++) {
        const key = order[i + k]!
        const dev = Math.floor(key / 2 ** 32)
        const c = key % 2 ** 32
        sampleCluster(cluster, seed, dev, c, o.changed?.(dev, c) ? 1 : 0, fill)
        const end = sizeOf.get(dev)! - c * CLUSTER_SIZE
        if (end < CLUSTER_SIZE) cluster.fill(0, end)
        const mask = packNonZeroBlocks(cluster, 0, buf, data)
        data += popcount16(mask) * BLOCK_SIZE
        masks[k] = mask
        ids[k] = dev
        nums[k] = c
      }
      ExtentHeader.encode(buf, 0, uuid, n, masks, ids, nums)
      await fh.write(buf, 0, data, pos)
      pos += data
    }
    return pos
  } finally {
    await fh.close()
  }
}

function defaultConfig(devs: { name: string; size: number }[]): string {
  const lines = ['agent: 1', 'boot: order=scsi0', 'cores: 2', 'memory: 4096', 'name: sample-vm', 'ostype: l26', 'scsihw: virtio-scsi-single']
  const keys = devs.map(d => d.name.replace(/^drive-/, ''))
  devs.forEach((d, i) => lines.push(`${keys[i]}: local-lvm:vm-100-disk-${i},size=${Math.ceil(d.size / 1024)}K`))
  devs.forEach((d, i) => lines.push(`#qmdump#map:${keys[i]}:${d.name}:local-lvm:raw:`))
  return lines.join('\n') + '\n'
}
