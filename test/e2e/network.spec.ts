import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { runShoal, sendSignal, shoalCommand, startDaemonProcess } from '../helpers/processes.ts'
import type { ShoalProcess, StartedDaemon } from '../helpers/processes.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'

describe(`e2e: daemons as separate processes (${shoalCommand().join(' ')})`, function () {
  this.timeout(120_000)
  let dir: string
  let cleanup: () => Promise<void>
  const daemons: ShoalProcess[] = []

  before(async () => { ({ dir, cleanup } = await tempDir('shoal-e2e-')) })
  after(async () => {
    for (const d of daemons) d.child.kill('SIGKILL')
    await Promise.all(daemons.map(async d => await d.exited))
    await cleanup()
  })

  async function startDaemon (name: string, bootstrap?: string): Promise<StartedDaemon> {
    const started = await startDaemonProcess(path.join(dir, name), { bootstrap })
    daemons.push(started.proc)
    return started
  }

  async function peersOf (repo: string): Promise<string[]> {
    const r = await runShoal(['peers', '--json', '--repo', repo])
    assert.equal(r.code, 0, r.stderr)
    return (JSON.parse(r.stdout) as Array<{ peerId: string }>).map(p => p.peerId)
  }

  it('three daemons that know only the first form a network: each lists the other two', async () => {
    const a = await startDaemon('a')
    const b = await startDaemon('b', a.ready.addresses[0])
    const c = await startDaemon('c', a.ready.addresses[0])
    const all = [a, b, c]

    const id = await runShoal(['id', '--json', '--repo', a.repo])
    assert.equal(id.code, 0, id.stderr)
    assert.equal(JSON.parse(id.stdout).peerId, a.ready.peerId)

    for (const node of all) {
      const others = all.filter(o => o !== node).map(o => o.ready.peerId).sort()
      let seen: string[] = []
      await waitFor(async () => {
        seen = (await peersOf(node.repo)).sort()
        return others.every(o => seen.includes(o))
      }, `${node.repo} to list the other two`, 30_000).catch(() => assert.deepEqual(seen, others))
    }

    // a second daemon on a repo in use fails at once, without harm
    const second = await runShoal(['daemon', '--repo', b.repo, '--listen', '/ip4/127.0.0.1/tcp/0', '--rpc', '127.0.0.1:0', '--no-mdns'])
    assert.equal(second.code, 1)
    assert.match(second.stderr, new RegExp(`a shoal daemon \\(pid ${b.proc.child.pid}\\) is already running on it`))
    assert.equal((await runShoal(['id', '--json', '--repo', b.repo])).code, 0)

    // SIGTERM stops a daemon cleanly within 5 s, and it leaves no api.json or lock behind
    const started = Date.now()
    sendSignal(c.proc, 'SIGTERM')
    assert.equal(await c.proc.exited, 0)
    assert.ok(Date.now() - started < 5000, `stop took ${Date.now() - started} ms`)
    const left = await fs.readdir(c.repo)
    assert.ok(!left.includes('repo.lock') && !left.includes('api.json'), left.join(' '))
    assert.ok(left.includes('identity.key') && left.includes('config.json'), left.join(' '))
    const gone = await runShoal(['peers', '--repo', c.repo])
    assert.equal(gone.code, 1)
    assert.match(gone.stderr, /^Cannot reach the shoal daemon at 127\.0\.0\.1:\d+: is "shoal daemon" running\?\n$/)
  })

  it('a daemon killed with SIGKILL leaves a stale lock that the next start recovers', async () => {
    const d = await startDaemon('killed')
    d.proc.child.kill('SIGKILL')
    await d.proc.exited
    await fs.stat(path.join(d.repo, 'repo.lock'))
    const again = await startDaemon('killed')
    assert.equal(again.ready.peerId, d.ready.peerId, 'same identity after restart')
    sendSignal(again.proc, 'SIGINT')
    assert.equal(await again.proc.exited, 0)
  })

  it('a private network: daemons initialised with one swarm key connect; one without it cannot join', async () => {
    const keyed = path.join(dir, 'pk-a')
    const init = await runShoal(['init', '--repo', keyed, '--swarm-key', '--json'])
    assert.equal(init.code, 0, init.stderr)
    const { swarmKeyFingerprint } = JSON.parse(init.stdout)
    assert.equal((await runShoal(['init', '--repo', path.join(dir, 'pk-b'), '--swarm-key-file', path.join(keyed, 'swarm.key')])).code, 0)
    const a = await startDaemon('pk-a')
    const b = await startDaemon('pk-b', a.ready.addresses[0])
    const outsider = await startDaemon('pk-out', a.ready.addresses[0])
    await waitFor(async () => (await peersOf(b.repo)).includes(a.ready.peerId), 'the two members to connect', 30_000)
    // the outsider's bootstrap dial fails at the handshake: give it time to try, then look
    await new Promise(resolve => setTimeout(resolve, 1500))
    assert.deepEqual(await peersOf(outsider.repo), [])
    assert.ok(!(await peersOf(a.repo)).includes(outsider.ready.peerId))
    const health = JSON.parse((await runShoal(['health', '--json', '--repo', a.repo])).stdout)
    assert.deepEqual(health.network, { private: true, fingerprint: swarmKeyFingerprint })
  })
})
