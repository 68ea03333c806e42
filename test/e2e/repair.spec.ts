/**
 * Kill and repair with daemon processes (the sources, or dist/shoal): six
 * daemons, files added, two killed with SIGKILL; after the grace period
 * every block has 3 live copies again and every file reads byte-identical
 * from every survivor.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { ESCAPED_ERROR_MESSAGE } from '../../src/platform/guard.ts'
import { runShoal, shoalCommand, startDaemonProcess } from '../helpers/processes.ts'
import type { ShoalProcess, StartedDaemon } from '../helpers/processes.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

describe(`e2e: repair after SIGKILL (${shoalCommand().join(' ')})`, function () {
  this.timeout(240_000)
  let dir: string
  let cleanup: () => Promise<void>
  const procs: ShoalProcess[] = []

  before(async () => { ({ dir, cleanup } = await tempDir('shoal-e2e-repair-')) })
  after(async () => {
    for (const p of procs) p.child.kill('SIGKILL')
    await Promise.all(procs.map(async p => await p.exited))
    await cleanup()
  })

  async function json (args: string[], node: StartedDaemon): Promise<any> {
    const r = await runShoal([...args, '--json', '--repo', node.repo], 60_000)
    assert.equal(r.code, 0, `shoal ${args.join(' ')}: ${r.stderr}`)
    return JSON.parse(r.stdout)
  }

  it('two of six daemons killed: every block has 3 live copies again after the grace period, and every file reads back', async () => {
    const nodes: StartedDaemon[] = []
    for (let i = 0; i < 6; i++) {
      const repo = path.join(dir, `node-${i}`)
      await fs.mkdir(repo, { recursive: true })
      await fs.writeFile(path.join(repo, 'config.json'), JSON.stringify({ repairGraceSeconds: 2, antiEntropyIntervalSeconds: 1 }))
      const started = await startDaemonProcess(repo, { bootstrap: nodes[0]?.ready.addresses[0], logLevel: 'warn' })
      procs.push(started.proc)
      nodes.push(started)
    }
    // every daemon knows only the first: the others are found through the DHT
    try {
      for (const node of nodes) await waitFor(async () => (await json(['health'], node).catch(() => ({}))).storagePeers === 5, 'six daemons connected', 60_000, 250)
    } catch (err) {
      const peers = await Promise.all(nodes.map(async n => (await json(['health'], n).catch(() => ({}))).storagePeers))
      throw new Error(`${(err as Error).message}; storage peers of each: ${peers.join(' ')}`)
    }

    const files: Array<{ cid: string, sum: string }> = []
    for (const [i, adder] of nodes.slice(0, 3).entries()) {
      const file = path.join(dir, `file-${i}.bin`)
      const data = randomBytes(2 * 1024 * 1024 + i * 1000)
      await fs.writeFile(file, data)
      const r = await runShoal(['add', '-Q', file, '--repo', adder.repo], 60_000)
      assert.equal(r.code, 0, r.stderr)
      files.push({ cid: r.stdout.trim(), sum: sha256(data) })
    }

    // SIGKILL two that are not the adders
    const [victimA, victimB] = nodes.slice(4)
    for (const v of [victimA, victimB]) {
      v.proc.child.kill('SIGKILL')
      await v.proc.exited
    }
    const survivors = nodes.slice(0, 4)
    for (const f of files) {
      await waitFor(async () => {
        const stat = await json(['stat', f.cid], survivors[3])
        return stat.replicas.histogram[3] === stat.replicas.blocks
      }, `every block of ${f.cid} on 3 live daemons`, 60_000, 500)
    }
    for (const node of survivors) {
      for (const f of files) {
        const got = await runShoal(['cat', f.cid, '--repo', node.repo], 60_000, true)
        assert.equal(got.code, 0, got.stderr)
        assert.equal(sha256(got.bytes), f.sum)
      }
      await waitFor(async () => (await json(['health'], node)).underReplicated.blocks === 0, 'nothing under-replicated', 30_000, 500)
      const repair = await json(['repair', 'status'], node)
      assert.ok(repair.totals.passes > 0)
      assert.equal(node.proc.child.exitCode, null)
      assert.ok(!node.proc.stderr().includes(ESCAPED_ERROR_MESSAGE), node.proc.stderr())
    }
    const moved = await Promise.all(survivors.map(async n => {
      const t = (await json(['repair', 'status'], n)).totals
      return t.pushed.blocks + t.pulled.blocks
    }))
    assert.ok(moved.some(n => n > 0), 'repair copied blocks')
  })
})
