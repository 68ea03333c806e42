/**
 * The V8 flags a shoal daemon runs with, read from bin/shoal.ts's shebang: the
 * one place they are written. The binary (build-bin.ts) bakes them in, the
 * benchmarks start daemons with them, and a test checks `npm start` passes
 * the same.
 */
import fs from 'node:fs'
import path from 'node:path'

export function daemonV8Flags (root: string): string[] {
  const first = fs.readFileSync(path.join(root, 'bin/shoal.ts'), 'utf8').split('\n', 1)[0]
  const match = /^#!\/usr\/bin\/env -S node((?: --[\w-]+=\S+)*)$/.exec(first)
  if (match == null) throw new Error(`bin/shoal.ts: unexpected first line ${JSON.stringify(first)}`)
  return match[1].trim().split(' ').filter(f => f !== '')
}
