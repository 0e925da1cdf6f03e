import xxhash, { type XXHashAPI } from 'xxhash-wasm'

let loading: Promise<XXHashAPI> | undefined

/** The xxhash-wasm instance, compiled once per process. */
export function loadHasher(): Promise<XXHashAPI> {
  loading ??= xxhash()
  return loading
}
