import { strict as assert } from 'node:assert'
import fs from 'node:fs'
import path from 'node:path'
import { daemonV8Flags } from '../../scripts/daemon-flags.ts'

const root = path.resolve(import.meta.dirname, '../..')

describe('the daemon\'s V8 flags', () => {
  it('are written once (bin/shoal.ts) and npm start passes the same', () => {
    const flags = daemonV8Flags(root)
    // the young generation is capped: full GCs and RSS depend on it (bench/)
    assert.ok(flags.some(f => /^--max-semi-space-size=\d+$/.test(f)), `flags: ${flags.join(' ')}`)
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    assert.equal(pkg.scripts.start, ['node', ...flags, 'bin/shoal.ts', 'daemon'].join(' '))
  })

  it('are taken from bin/shoal.ts by the binary\'s build and the benchmarks', () => {
    for (const file of ['scripts/build-bin.ts', 'bench/lib/shoal-peer.ts']) {
      const text = fs.readFileSync(path.join(root, file), 'utf8')
      assert.match(text, /daemonV8Flags\(root\)/, file)
      assert.doesNotMatch(text, /--max-semi-space-size/, `${file} writes the flag itself`)
    }
  })
})
