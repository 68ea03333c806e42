import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { runCli } from '../helpers/cli.ts'
import { tempDir } from '../helpers/tmp.ts'

describe('cli', () => {
  it('lists the commands with --help and exits 0', async () => {
    const r = await runCli(['--help'])
    assert.equal(r.code, 0)
    for (const name of ['daemon', 'id', 'peers', 'version']) assert.match(r.stdout, new RegExp(`^  ${name} `, 'm'))
  })

  it('prints usage to stderr and exits 2 with no command or an unknown one', async () => {
    const none = await runCli([])
    assert.equal(none.code, 2)
    assert.match(none.stderr, /Usage: shoal COMMAND/)
    const unknown = await runCli(['frobnicate'])
    assert.equal(unknown.code, 2)
    assert.match(unknown.stderr, /unknown command "frobnicate"/)
  })

  for (const name of ['daemon', 'id', 'peers', 'health', 'config', 'version']) {
    it(`${name} --help shows its usage and options`, async () => {
      const r = await runCli([name, '--help'])
      assert.equal(r.code, 0)
      assert.match(r.stdout, new RegExp(`^Usage: shoal ${name}`))
      assert.match(r.stdout, /--help/)
      if (name !== 'version') assert.match(r.stdout, /--repo DIR/)
      assert.match(r.stdout, /--json/)
    })
  }

  it('daemon --help lists the flags for several nodes on one box', async () => {
    const r = await runCli(['daemon', '--help'])
    for (const flag of ['--listen MULTIADDR', '--rpc HOST:PORT', '--bootstrap MULTIADDR', '--no-mdns']) assert.ok(r.stdout.includes(flag), flag)
  })

  it('rejects an unknown flag with exit 2 and a pointer to --help', async () => {
    const r = await runCli(['id', '--bogus'])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /Unknown option '--bogus'/)
    assert.match(r.stderr, /shoal id --help/)
  })

  it('version prints the package version, as text and as JSON', async () => {
    const pkg = JSON.parse(await fs.readFile(new URL('../../package.json', import.meta.url), 'utf8'))
    const text = await runCli(['version'])
    assert.match(text.stdout, new RegExp(`^shoal ${pkg.version.replace(/\./g, '\\.')} \\(`))
    const json = await runCli(['version', '--json'])
    assert.equal(JSON.parse(json.stdout).version, pkg.version)
  })

  describe('with no daemon running', () => {
    let dir: string
    let cleanup: () => Promise<void>
    beforeEach(async () => { ({ dir, cleanup } = await tempDir()) })
    afterEach(async () => { await cleanup() })

    for (const name of ['id', 'peers', 'health']) {
      it(`${name} fails with one line naming the address it tried`, async () => {
        // a config that points at a port nobody listens on
        await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify({ rpc: '127.0.0.1:1' }))
        const r = await runCli([name, '--repo', dir])
        assert.equal(r.code, 1)
        assert.equal(r.stdout, '')
        assert.equal(r.stderr, 'Cannot reach the shoal daemon at 127.0.0.1:1: is "shoal daemon" running?\n')
      })
    }

    it('finds the repo through $SHOAL_HOME', async () => {
      await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify({ rpc: '127.0.0.1:2' }))
      const r = await runCli(['id'], { SHOAL_HOME: dir })
      assert.match(r.stderr, /at 127\.0\.0\.1:2:/)
    })

    it('does not create a repo just by asking', async () => {
      const repo = path.join(dir, 'absent')
      await runCli(['id', '--repo', repo])
      await assert.rejects(fs.stat(repo), { code: 'ENOENT' })
    })
  })

  it('daemon refuses bad flags before touching the repo', async () => {
    const { dir, cleanup } = await tempDir()
    try {
      const repo = path.join(dir, 'r')
      const bad = await runCli(['daemon', '--repo', repo, '--rpc', 'nonsense'])
      assert.equal(bad.code, 1)
      assert.match(bad.stderr, /Invalid address "nonsense": expected HOST:PORT/)
      const noPeer = await runCli(['daemon', '--repo', repo, '--bootstrap', '/ip4/127.0.0.1/tcp/4710'])
      assert.match(noPeer.stderr, /must end with \/p2p\/PEER_ID/)
      const level = await runCli(['daemon', '--repo', repo, '--log-level', 'loud'])
      assert.equal(level.code, 2)
      await assert.rejects(fs.stat(repo), { code: 'ENOENT' })
    } finally {
      await cleanup()
    }
  })
})
