import type { Timestamp } from '../guest-fs.js'

/** 100 ns intervals from 1601-01-01 to 1970-01-01 UTC. */
const EPOCH_DIFF = 116444736000000000n
const PER_SEC = 10_000_000n

/** An NTFS time (u64, 100 ns since 1601-01-01 UTC) as seconds and nanoseconds since 1970. */
export function ntfsTime(t: bigint): Timestamp {
  const since = t - EPOCH_DIFF
  let sec = since / PER_SEC
  let rest = since % PER_SEC
  if (rest < 0n) {
    sec -= 1n
    rest += PER_SEC
  }
  return { sec: Number(sec), nsec: Number(rest) * 100 }
}
