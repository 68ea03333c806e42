import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { parseSwarmKey } from '../../src/net/swarm-key.ts'
import { runCli } from '../helpers/cli.ts'
import { startTestDaemon } from '../helpers/daemon.ts'
import { tempDir } from '../helpers/tmp.ts'

describe('shoal init: a repo, and a private network\'s swarm key', function () {
  this.timeout(60_000)
  let dir: string
  let cleanup: () => Promise<void>
  beforeEach(async () => { ({ dir, cleanup } = await tempDir('shoal-init-')) })
  afterEach(async () => { await cleanup() })

  it('--swarm-key writes a new key (Kubo\'s format, 0600); --swarm-key-file joins with the same one', async () => {
    const a = path.join(dir, 'a')
    const b = path.join(dir, 'b')
    const made = await runCli(['init', '--repo', a, '--swarm-key', '--json'])
    assert.equal(made.code, 0, made.stderr)
    const first = JSON.parse(made.stdout)
    assert.equal(first.network, 'private')
    const keyFile = path.join(a, 'swarm.key')
    const text = await fs.readFile(keyFile, 'utf8')
    assert.match(text, /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/)
    assert.equal((await fs.stat(keyFile)).mode & 0o777, 0o600)
    assert.equal(first.swarmKeyFingerprint, parseSwarmKey(text).fingerprint)
    for (const f of ['config.json', 'identity.key']) await fs.access(path.join(a, f))

    const joined = await runCli(['init', '--repo', b, '--swarm-key-file', keyFile, '--json'])
    assert.equal(joined.code, 0, joined.stderr)
    assert.equal(JSON.parse(joined.stdout).swarmKeyFingerprint, first.swarmKeyFingerprint)
    // again with the same key: nothing changes; a new key over it: refused, the old key kept
    assert.equal((await runCli(['init', '--repo', b, '--swarm-key-file', keyFile])).code, 0)
    const refused = await runCli(['init', '--repo', b, '--swarm-key'])
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /already has a swarm key .*move .*swarm\.key away first/)
    assert.equal(await fs.readFile(path.join(b, 'swarm.key'), 'utf8'), text)
  })

  it('a malformed key file, or both options, fail with one line and write nothing', async () => {
    const bad = path.join(dir, 'bad.key')
    await fs.writeFile(bad, '/key/swarm/psk/1.0.0/\n/base16/\nnot-hex\n')
    const r = await runCli(['init', '--repo', path.join(dir, 'r'), '--swarm-key-file', bad])
    assert.equal(r.code, 1)
    assert.equal(r.stderr.trim().split('\n').length, 1)
    assert.match(r.stderr, /Invalid swarm key .*64 hex digits/)
    await assert.rejects(fs.access(path.join(dir, 'r')), 'no repo was created')
    const both = await runCli(['init', '--repo', path.join(dir, 'r'), '--swarm-key', '--swarm-key-file', bad])
    assert.equal(both.code, 2)
  })

  it('without a key the network is public, and a daemon on it says so in health', async () => {
    const r = await runCli(['init', '--repo', path.join(dir, 'p'), '--json'])
    assert.equal(JSON.parse(r.stdout).network, 'public')
    const daemon = await startTestDaemon({ config: { replicas: 1 } })
    try {
      const health = JSON.parse((await runCli(['health', '--json', '--repo', daemon.repo])).stdout)
      assert.deepEqual(health.network, { private: false })
    } finally {
      await daemon.stop()
    }
  })
})
