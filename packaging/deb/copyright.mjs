// debian/copyright in the machine-readable format (DEP-5): vma-opt itself
// (package.json says MIT, which DEP-5 calls Expat) and every bundled node
// module, whose copyright lines are read from its own license file. A module
// under a license not listed in TEXTS stops the build: its text has to be
// added here first.

import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

const EXPAT = `Permission is hereby granted, free of charge, to any person obtaining a
copy of this software and associated documentation files (the "Software"),
to deal in the Software without restriction, including without limitation
the rights to use, copy, modify, merge, publish, distribute, sublicense,
and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included
in all copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL
THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING
FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
DEALINGS IN THE SOFTWARE.`

const ISC = `Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted, provided that the above
copyright notice and this permission notice appear in all copies.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.`

/** npm's SPDX name -> [DEP-5 name, full text]. */
const TEXTS = { MIT: ['Expat', EXPAT], ISC: ['ISC', ISC] }

function license(spdx, what) {
  const l = TEXTS[spdx]
  if (!l) throw new Error(`${what}: license ${spdx} has no text in packaging/deb/copyright.mjs`)
  return l
}

/** The "Copyright ..." lines of a module's license file, without the word and the (c). */
function holders(dir) {
  const file = readdirSync(dir).find(f => /^licen[cs]e/i.test(f))
  const text = file ? readFileSync(join(dir, file), 'utf8') : ''
  const lines = text
    .split('\n')
    .map(l => l.trim())
    .filter(l => /^copyright\b/i.test(l) && !/^copyright (notice|holders)/i.test(l))
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
  const author = typeof pkg.author === 'string' ? pkg.author : pkg.author?.name
  const out = lines.map(l => l.replace(/^copyright\s*(\(c\)|©)?\s*/i, ''))
  if (out.length === 0 && author) out.push(author)
  if (out.length === 0) throw new Error(`${dir}: no copyright line in its license file nor an author in package.json`)
  return out
}

/** Folds text into a DEP-5 field value: continuation lines start with a space, empty lines are " .". */
const fold = text =>
  text
    .split('\n')
    .map(l => (l.trim() === '' ? ' .' : ` ${l}`))
    .join('\n')

/** `extra`: more paragraphs and the licenses they name (the architecture package's binding, native-binding.mjs). */
export function copyrightFile(root, packages, extra = { paragraphs: [], licenses: {} }) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  const used = new Map()
  const [own] = license(pkg.license, 'vma-opt')
  used.set(own, TEXTS[pkg.license][1])
  const paras = [
    [
      'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
      'Upstream-Name: vma-opt',
      'Comment: vma-opt with the node modules it needs at run time (under',
      ' /usr/lib/vma-opt/node_modules), each at the version package-lock.json pins.',
    ].join('\n'),
    ['Files: *', 'Copyright: 2026 the vma-opt authors', `License: ${own}`].join('\n'),
  ]
  for (const p of packages) {
    const dir = join(root, p.path)
    if (!existsSync(dir)) throw new Error(`${p.path} is missing`)
    const [name, text] = license(p.license, p.path)
    used.set(name, text)
    const [first, ...rest] = holders(dir)
    paras.push([`Files: ${p.path}/*`, `Copyright: ${first}`, ...rest.map(r => ` ${r}`), `License: ${name}`, `Comment: ${p.name} ${p.version}`].join('\n'))
  }
  paras.push(...extra.paragraphs)
  for (const [name, text] of Object.entries(extra.licenses)) used.set(name, text)
  for (const [name, text] of used) paras.push(`License: ${name}\n${fold(text)}`)
  return paras.join('\n\n') + '\n'
}
