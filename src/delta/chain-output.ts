// What a chain produces: the header fields and device list of the newest
// archive in the optimized form, and the digests the result must prove.

import type { DeviceDigest } from '../check/content-digest.js'
import { clusterCount } from '../format/cluster-tracker.js'
import { OPTIMIZED_UUID } from '../format/constants.js'
import type { HeaderFields } from '../format/header.js'
import { parseUuid } from '../format/uuid.js'
import type { EmitDevice } from '../archive/emit.js'
import type { Chain } from './open-chain.js'

export interface ChainOutput {
  fields: HeaderFields
  devices: EmitDevice[]
  expected: DeviceDigest[]
}

export function chainOutput(chain: Chain): ChainOutput {
  const h = chain.newestFirst[0]!.indexed.header
  const list = h.deviceList
  return {
    fields: { uuid: parseUuid(OPTIMIZED_UUID), ctime: h.ctimeRaw, configs: h.configs, devices: list },
    devices: list.map(d => ({ id: d.id, name: d.name, size: d.size, clusters: clusterCount(d.size), vmstate: false })),
    expected: chain.target.devices.map(d => ({ ...d, clusters: clusterCount(d.size) })),
  }
}
