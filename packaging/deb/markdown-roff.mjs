// Renders the Markdown of spec/cli.md into man(7) roff, for the manual
// pages. Only what that file uses: headings, paragraphs, "* " lists, tables,
// fenced code, `code`, **bold** and [links](...).

/** Escapes text for roff: backslashes, and a leading . or ' that would read as a request. */
export function roffText(s) {
  return s.replace(/\\/g, '\\e')
}

/** A line of roff source; \& keeps a leading . or ' literal. */
const line = s => (/^[.']/.test(s) ? `\\&${s}` : s)

/** Literal text (code, options): hyphens are minus signs so they can be searched and pasted. */
export const roffCode = s => roffText(s).replace(/-/g, '\\-')

export function inline(s) {
  let out = ''
  const re = /`([^`]+)`|\*\*([^*]+)\*\*|\[([^\]]+)\]\([^)]*\)/g
  let at = 0
  for (let m; (m = re.exec(s)); at = re.lastIndex) {
    out += roffText(s.slice(at, m.index))
    if (m[1] !== undefined) out += `\\fB${roffCode(m[1])}\\fR`
    else if (m[2] !== undefined) out += `\\fB${roffText(m[2])}\\fR`
    else out += roffText(m[3])
  }
  return out + roffText(s.slice(at))
}

/** A table row's cells; a | inside `code` belongs to the cell. */
function cells(row) {
  const out = ['']
  let code = false
  for (const ch of row.trim().replace(/^\||\|$/g, '')) {
    if (ch === '`') code = !code
    if (ch === '|' && !code) out.push('')
    else out[out.length - 1] += ch
  }
  return out.map(c => c.trim())
}

/** Preformatted lines (help output, code), indented, no filling. */
export function preformatted(lines) {
  return ['.PP', '.nf', ...lines.map(l => line(roffCode(l))), '.fi']
}

/**
 * --help text, preformatted, its `code` in bold without the backticks. A span
 * may be wrapped onto the next line by yargs: in no-fill mode the font
 * change carries over, so the whole text is matched at once.
 */
export function helpText(text) {
  const lines = preformatted(text.split('\n'))
  return lines
    .join('\n')
    .replace(/`([^`]*)`/g, '\\fB$1\\fR')
    .split('\n')
}

/** Markdown -> roff lines. Headings become .SS: callers give each .SH its own title. */
export function markdownToRoff(md) {
  const lines = md.replace(/\n+$/, '').split('\n')
  const out = []
  for (let i = 0; i < lines.length; ) {
    const l = lines[i]
    if (l.trim() === '') {
      i++
      continue
    }
    const h = /^#+ (.*)$/.exec(l)
    if (h) {
      out.push(`.SS ${inline(h[1])}`)
      i++
      continue
    }
    if (l.startsWith('```')) {
      const body = []
      for (i++; i < lines.length && !lines[i].startsWith('```'); i++) body.push(lines[i])
      i++
      out.push(...preformatted(body))
      continue
    }
    if (l.startsWith('|')) {
      const rows = []
      for (; i < lines.length && lines[i].startsWith('|'); i++) rows.push(lines[i])
      for (const r of rows.slice(2)) {
        const [first, ...rest] = cells(r)
        out.push('.TP', line(inline(first)), line(inline(rest.join('; '))))
      }
      continue
    }
    if (/^\* /.test(l)) {
      for (; i < lines.length && /^\* /.test(lines[i]); ) {
        const item = [lines[i++].slice(2)]
        for (; i < lines.length && /^ {2,}\S/.test(lines[i]); i++) item.push(lines[i].trim())
        out.push('.IP \\(bu 2', line(inline(item.join(' '))))
      }
      continue
    }
    const para = []
    for (; i < lines.length && lines[i].trim() !== '' && !/^(#+ |```|\||\* )/.test(lines[i]); i++) para.push(lines[i].trim())
    // One line per paragraph: a `code` span may run over a line break of the source.
    out.push('.PP', line(inline(para.join(' '))))
  }
  return out
}

/** The part of `md` under the heading whose text starts with `title`, down to the next heading of the same or a higher level. */
export function section(md, title, { withHeading = false } = {}) {
  const lines = md.split('\n')
  const at = lines.findIndex(l => /^#+ /.test(l) && l.replace(/^#+ /, '').startsWith(title))
  if (at < 0) throw new Error(`spec: no section "${title}"`)
  const depth = lines[at].indexOf(' ')
  let end = at + 1
  while (end < lines.length && !(/^#+ /.test(lines[end]) && lines[end].indexOf(' ') <= depth)) end++
  return lines.slice(withHeading ? at : at + 1, end).join('\n')
}
