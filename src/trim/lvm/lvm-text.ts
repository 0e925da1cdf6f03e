import { TrimSkip, need } from '../skip.js'

/**
 * LVM2's metadata text: `name = value` and `name { ... }`, values are
 * "strings", integers or [ lists ], `#` comments. Bounded in nesting and
 * size because the text comes from the guest.
 */
export type LvmValue = string | number | LvmValue[] | LvmSection
export interface LvmSection {
  [key: string]: LvmValue
}

const MAX_DEPTH = 16
const MAX_TOKENS = 4_000_000

type Tok = { k: 's' | 'n' | 'i' | 'p'; v: string }

function tokenise(text: string): Tok[] {
  const out: Tok[] = []
  const re = /\s*(?:(#[^\n]*)|("(?:\\.|[^"\\])*")|(-?\d+)(?![A-Za-z_.+])|([A-Za-z0-9_.+-]+)|([{}[\]=,]))/y
  let pos = 0
  while (pos < text.length) {
    re.lastIndex = pos
    const m = re.exec(text)
    if (!m || re.lastIndex === pos) {
      if (/^[\s\0]*$/.test(text.slice(pos))) break
      throw new TrimSkip(`LVM metadata: cannot read text at ${pos}`)
    }
    pos = re.lastIndex
    if (m[1] !== undefined) continue
    if (m[2] !== undefined) out.push({ k: 's', v: m[2].slice(1, -1).replace(/\\(.)/g, '$1') })
    else if (m[3] !== undefined) out.push({ k: 'n', v: m[3] })
    else if (m[4] !== undefined) out.push({ k: 'i', v: m[4] })
    else if (m[5] !== undefined) out.push({ k: 'p', v: m[5] })
    need(out.length <= MAX_TOKENS, 'LVM metadata too large')
  }
  return out
}

export function parseLvmText(text: string): LvmSection {
  const toks = tokenise(text)
  let i = 0
  const peek = (): Tok | undefined => toks[i]
  const isP = (t: Tok | undefined, v: string): boolean => !!t && t.k === 'p' && t.v === v
  const value = (depth: number): LvmValue => {
    const t = toks[i++]
    if (!t) throw new TrimSkip('LVM metadata: value missing')
    if (t.k === 's') return t.v
    if (t.k === 'n') {
      const n = Number(t.v)
      need(Number.isSafeInteger(n), `LVM metadata: number ${t.v} out of range`)
      return n
    }
    if (isP(t, '[')) {
      need(depth < MAX_DEPTH, 'LVM metadata nested too deeply')
      const arr: LvmValue[] = []
      while (!isP(peek(), ']')) {
        need(peek() !== undefined, 'LVM metadata: unterminated list')
        arr.push(value(depth + 1))
        if (isP(peek(), ',')) i++
      }
      i++
      return arr
    }
    throw new TrimSkip(`LVM metadata: unexpected ${t.v}`)
  }
  const section = (depth: number, closed: boolean): LvmSection => {
    need(depth < MAX_DEPTH, 'LVM metadata nested too deeply')
    const d: LvmSection = Object.create(null) as LvmSection
    for (;;) {
      const t = peek()
      if (!t) {
        need(!closed, 'LVM metadata: unterminated section')
        return d
      }
      if (isP(t, '}')) {
        need(closed, 'LVM metadata: stray }')
        i++
        return d
      }
      need(t.k === 'i', `LVM metadata: expected a name, got ${t.v}`)
      i++
      const op = toks[i++]
      if (isP(op, '=')) d[t.v] = value(depth)
      else if (isP(op, '{')) d[t.v] = section(depth + 1, true)
      else throw new TrimSkip(`LVM metadata: bad syntax after ${t.v}`)
    }
  }
  return section(0, false)
}

export const isSection = (v: LvmValue | undefined): v is LvmSection => typeof v === 'object' && v !== null && !Array.isArray(v)
