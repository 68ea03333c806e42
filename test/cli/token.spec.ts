import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { runCli } from '../helpers/cli.ts'
import { startTestDaemon } from '../helpers/daemon.ts'
import type { TestDaemon } from '../helpers/daemon.ts'
import { tempDir } from '../helpers/tmp.ts'

const tokenOf = async (repo: string): Promise<string> => (await fs.readFile(path.join(repo, 'rpc.token'), 'utf8')).trim()

describe('cli: token rotate, and a token kept across restarts', function () {
  this.timeout(30_000)
  let d: TestDaemon | undefined
  let t: { dir: string, cleanup: () => Promise<void> }
  beforeEach(async () => { t = await tempDir('shoal-token-') })
  afterEach(async () => {
    await d?.stop()
    d = undefined
    await t.cleanup()
  })

  it('a running daemon takes the new token at once and refuses the old one', async () => {
    d = await startTestDaemon({ repo: t.dir })
    const old = d.token
    assert.equal((await d.request('/rpc', { method: 'POST', body: Buffer.from('{"jsonrpc":"2.0","id":1,"method":"node.id"}') })).status, 200)
    const r = await runCli(['token', 'rotate', '--repo', t.dir])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /refuses the old one/)
    const fresh = await tokenOf(t.dir)
    assert.notEqual(fresh, old)
    const call = { method: 'POST', body: Buffer.from('{"jsonrpc":"2.0","id":1,"method":"node.id"}') }
    assert.equal((await d.request('/rpc', { ...call, token: old })).status, 401)
    assert.equal((await d.request('/rpc', { ...call, token: fresh })).status, 200)
    // and the CLI, which reads the file, goes on working
    assert.equal((await runCli(['id', '--repo', t.dir])).code, 0)
    assert.equal((await runCli(['token', 'rotate', '--json', '--repo', t.dir])).stdout.includes('"daemon": true'), true)
  })

  it('a new token at every start by default; with rpcTokenStable the same one, also after a rotate while stopped', async () => {
    d = await startTestDaemon({ repo: t.dir })
    const first = d.token
    await d.daemon.stop()
    d = await startTestDaemon({ repo: t.dir })
    assert.notEqual(d.token, first)
    await d.daemon.stop()

    d = await startTestDaemon({ repo: t.dir, config: { rpcTokenStable: true } })
    const stable = d.token
    await d.daemon.stop()
    d = await startTestDaemon({ repo: t.dir, config: { rpcTokenStable: true } })
    assert.equal(d.token, stable)
    await d.daemon.stop()
    d = undefined

    // (the CLI then looks at config.json's RPC address: one where nothing listens, not 4711)
    const configFile = path.join(t.dir, 'config.json')
    await fs.writeFile(configFile, JSON.stringify({ ...JSON.parse(await fs.readFile(configFile, 'utf8')), rpc: '127.0.0.1:1' }))
    const r = await runCli(['token', 'rotate', '--repo', t.dir])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /no daemon running/)
    const rotated = await tokenOf(t.dir)
    assert.notEqual(rotated, stable)
    d = await startTestDaemon({ repo: t.dir, config: { rpcTokenStable: true } })
    assert.equal(d.token, rotated)
    // a token file that is not one of ours is replaced, not trusted
    await d.daemon.stop()
    await fs.writeFile(path.join(t.dir, 'rpc.token'), 'short\n')
    d = await startTestDaemon({ repo: t.dir, config: { rpcTokenStable: true } })
    assert.match(d.token, /^[A-Za-z0-9_-]{43}$/)
  })

  it('without a repo there is nothing to rotate', async () => {
    const r = await runCli(['token', 'rotate', '--repo', path.join(t.dir, 'none')])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /No shoal repo at/)
    assert.equal((await runCli(['token', 'spin', '--repo', t.dir])).code, 2)
  })
})
