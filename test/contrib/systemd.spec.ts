import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs/promises'
import path from 'node:path'
import { tempDir } from '../helpers/tmp.ts'

const UNIT = path.resolve(import.meta.dirname, '../../contrib/shoal.service')

function has (command: string): boolean {
  try {
    execFileSync(command, ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

describe('contrib/shoal.service', function () {
  it('runs the daemon as its own user with its repo in the state directory, hardened but with a JIT', async () => {
    const text = await fs.readFile(UNIT, 'utf8')
    const settings = new Map(text.split('\n').filter(l => /^[A-Za-z]+=/.test(l)).map(l => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
    assert.match(settings.get('ExecStart') ?? '', /\/shoal daemon\b/)
    assert.equal(settings.get('User'), 'shoal')
    assert.equal(settings.get('Environment'), 'SHOAL_HOME=/var/lib/shoal')
    assert.equal(settings.get('StateDirectory'), 'shoal')
    assert.equal(settings.get('KillSignal'), 'SIGTERM')
    for (const key of ['NoNewPrivileges', 'ProtectHome', 'PrivateTmp', 'PrivateDevices']) assert.equal(settings.get(key), 'yes', key)
    assert.equal(settings.get('ProtectSystem'), 'strict')
    // V8 writes machine code: this one would kill the daemon at its first JIT
    assert.equal(settings.has('MemoryDenyWriteExecute'), false)
  })

  it('passes systemd-analyze verify (where systemd is installed)', async function () {
    if (!has('systemd-analyze')) this.skip()
    const t = await tempDir('shoal-unit-')
    try {
      // verify wants ExecStart's program to exist: any executable stands in for the binary
      const unit = (await fs.readFile(UNIT, 'utf8')).replace('ExecStart=/usr/local/bin/shoal', `ExecStart=${process.execPath}`)
      const file = path.join(t.dir, 'shoal.service')
      await fs.writeFile(file, unit)
      const out = execFileSync('systemd-analyze', ['verify', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      assert.equal(out.trim(), '')
    } finally {
      await t.cleanup()
    }
  })
})
