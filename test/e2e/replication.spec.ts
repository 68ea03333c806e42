import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { runShoal, shoalCommand, startDaemonProcess } from '../helpers/processes.ts'
import type { ShoalProcess, StartedDaemon } from '../helpers/processes.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'


describe(`e2e: replication across daemon processes (${shoalCommand().join(' ')})`, function () {
  this.timeout(180_000)
  let dir: string
  let cleanup: () => Promise<void>
  const daemons: ShoalProcess[] = []

  before(async () => { ({ dir, cleanup } = await tempDir('shoal-e2e-repl-')) })
  after(async () => {
    for (const d of daemons) d.child.kill('SIGKILL')
    await Promise.all(daemons.map(async d => await d.exited))
    await cleanup()
  })

  async function start (name: string, bootstrap?: string): Promise<StartedDaemon> {
    const started = await startDaemonProcess(path.join(dir, name), { bootstrap, logLevel: 'error' })
    daemons.push(started.proc)
    return started
  }

  async function sha256Of (repo: string, cid: string): Promise<string> {
    const r = await runShoal(['cat', '--repo', repo, cid], 60_000, true)
    assert.equal(r.code, 0, r.stderr)
    return createHash('sha256').update(r.bytes).digest('hex')
  }

  it('a file added on one daemon is read on another, and still after replica holders are killed with SIGKILL', async () => {
    const a = await start('a')
    const others = [await start('b', a.ready.addresses[0]), await start('c', a.ready.addresses[0]), await start('d', a.ready.addresses[0])]
    const all = [a, ...others]
    for (const node of all) {
      await waitFor(async () => {
        const r = await runShoal(['peers', '--json', '--repo', node.repo])
        return r.code === 0 && JSON.parse(r.stdout).length >= 3
      }, 'four daemons connected', 30_000)
    }
    const file = path.join(dir, 'data.bin')
    const data = randomBytes(12 * 1024 * 1024)
    await fs.writeFile(file, data)
    const want = createHash('sha256').update(data).digest('hex')

    const add = await runShoal(['add', '-Q', '--repo', a.repo, file], 60_000)
    assert.equal(add.code, 0, add.stderr)
    const cid = add.stdout.trim()

    for (const node of others) assert.equal(await sha256Of(node.repo, cid), want, node.repo)

    // a replica holder dies; then the adder too
    const [b, c, d] = others
    b.proc.child.kill('SIGKILL')
    await b.proc.exited
    assert.equal(await sha256Of(c.repo, cid), want)
    a.proc.child.kill('SIGKILL')
    await a.proc.exited
    // d cached the file when it read it above: drop that cache so this read goes to the network
    const gc = await runShoal(['gc', '--repo', d.repo])
    assert.equal(gc.code, 0, gc.stderr)
    assert.equal(await sha256Of(d.repo, cid), want, 'readable with two of four daemons gone')
  })
})
