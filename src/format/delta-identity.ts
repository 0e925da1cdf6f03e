// The identity of an archive as a delta records it (spec/delta-format.md):
// what must match before a delta is applied (its base) and what the result
// must prove to be (its target). Stored as a small JSON blob in the delta's
// header; the key order is fixed so equal identities give equal bytes.

import { createHash } from 'node:crypto'
import { VmaError } from '../util/errors.js'
import { isoTime } from './ctime.js'

export interface IdentityDevice {
  id: number
  name: string
  size: number
  /** The content digest (16 hex digits, spec/optimized-form.md "The proof"). */
  digest: string
}

export interface IdentityConfig {
  name: string
  /** sha256 of the config's bytes, 64 hex digits. */
  sha256: string
}

export interface ArchiveIdentity {
  ctime: number
  configs: IdentityConfig[]
  devices: IdentityDevice[]
}

export function configSha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

export function encodeIdentity(i: ArchiveIdentity): Buffer {
  const plain = {
    ctime: i.ctime,
    configs: i.configs.map(c => ({ name: c.name, sha256: c.sha256 })),
    devices: i.devices.map(d => ({ id: d.id, name: d.name, size: d.size, digest: d.digest })),
  }
  return Buffer.from(JSON.stringify(plain), 'utf8')
}

/** Decodes and checks an identity blob; `which` names it in errors ("base", "target"). */
export function decodeIdentity(blob: Uint8Array, which: string): ArchiveIdentity {
  const bad = (why: string): never => {
    throw new VmaError('VMA_DELTA_IDENTITY', -1, `the ${which} identity of the delta is damaged: ${why}`, 'header')
  }
  let v: unknown
  try {
    v = JSON.parse(Buffer.from(blob).toString('utf8'))
  } catch {
    return bad('not JSON')
  }
  const o = v as Record<string, unknown>
  if (!o || typeof o !== 'object' || !Number.isSafeInteger(o.ctime)) return bad('no ctime')
  if (!Array.isArray(o.configs) || !Array.isArray(o.devices)) return bad('no configs or devices')
  const configs = o.configs.map((c: Record<string, unknown>) => {
    if (typeof c?.name !== 'string' || typeof c.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(c.sha256)) return bad('a config entry is malformed')
    return { name: c.name, sha256: c.sha256 }
  })
  const devices = o.devices.map((d: Record<string, unknown>) => {
    if (!Number.isSafeInteger(d?.id) || typeof d.name !== 'string' || !Number.isSafeInteger(d.size) || typeof d.digest !== 'string' || !/^[0-9a-f]{16}$/.test(d.digest)) {
      return bad('a device entry is malformed')
    }
    return { id: d.id as number, name: d.name, size: d.size as number, digest: d.digest }
  })
  return { ctime: o.ctime as number, configs, devices }
}

/** Why two identities differ, in words, or undefined when they are the same. */
export function identityDifference(a: ArchiveIdentity, b: ArchiveIdentity): string | undefined {
  if (a.ctime !== b.ctime) return `the creation time differs (${when(a.ctime)} vs ${when(b.ctime)})`
  const names = (x: ArchiveIdentity) => x.devices.map(d => `${d.id}:${d.name}`).join(', ')
  if (names(a) !== names(b)) return `the devices differ (${names(a) || 'none'} vs ${names(b) || 'none'})`
  for (let i = 0; i < a.devices.length; i++) {
    const x = a.devices[i]!
    const y = b.devices[i]!
    if (x.size !== y.size) return `${x.name} is ${x.size} bytes vs ${y.size}`
    if (x.digest !== y.digest) return `the content of ${x.name} differs (digest ${x.digest} vs ${y.digest})`
  }
  if (a.configs.length !== b.configs.length || a.configs.some((c, i) => c.name !== b.configs[i]!.name || c.sha256 !== b.configs[i]!.sha256)) {
    return 'the configs differ'
  }
  return undefined
}

/** A creation time for people, in UTC: a date only where one exists (year 275760); the seconds beyond (a damaged header's time). */
export function when(seconds: number): string {
  return isoTime(seconds)?.replace('.000Z', 'Z') ?? `${seconds} seconds after 1970`
}

/** One line for people: when it was made and what it holds. */
export function describeIdentity(i: ArchiveIdentity): string {
  return `${when(i.ctime)}, ${i.devices.map(d => `${d.name} ${d.size} bytes digest ${d.digest}`).join(', ') || 'no devices'}`
}
