/**
 * Repair after a crash: six daemons, each in its own process; two files of
 * the test size added with k = 3 and quorum 3 (so each node holds about one
 * test file's worth of blocks); the non-adder node holding the most is
 * killed with SIGKILL. Timed from the end of the grace period until every
 * block of both files is confirmed on 3 live nodes (content.stat on the
 * adder); the bytes repair moved (every survivor's pushes and pulls) against
 * the minimum, the bytes the dead node held.
 */
import path from 'node:path'
import { writeRandomFile } from '../lib/data.ts'
import { deadline } from '../lib/peers.ts'
import { pollFor } from '../lib/proc.ts'
import { ShoalDaemon, shoal } from '../lib/shoal-peer.ts'
import type { Measurement } from '../lib/runner.ts'
import type { RepairStatus } from '../../src/replication/service.ts'

const NODES = 6
const K = 3
const GRACE_SECONDS = 2
const CONFIG = { repairGraceSeconds: GRACE_SECONDS, antiEntropyIntervalSeconds: 2 }
const ADD_PATH = `/api/v1/add?cid-version=1&chunker=size-262144&replicas=${K}&quorum=${K}`

export const shoalRepair: Measurement = {
  id: 'shoal-repair',
  title: 'Repair after one of 6 nodes dies (shoal)',
  system: 'shoal',
  group: 'repair',
  repeat: 'round',
  metrics: [
    { name: 'heldMB', label: 'bytes the dead node held (the least repair must copy)', unit: 'MB' },
    { name: 'movedMB', label: 'bytes repair copied', unit: 'MB' },
    { name: 'ratio', label: 'copied ÷ least', unit: 'x', digits: 2 },
    { name: 'seconds', label: 'time after the grace period until every block has 3 live copies', unit: 's', digits: 1 },
    { name: 'mbps', label: 'copied bytes ÷ that time', unit: 'MB/s' }
  ],
  description: `${NODES} daemons (${K} copies of everything, grace period ${GRACE_SECONDS} s, anti-entropy every 2 s, the default repair limit of 50 MB/s per node); two files of the test size added with \`replicas=${K}&quorum=${K}\`, so each node holds about one test file's worth; the node (not the adder) holding the most is killed with SIGKILL. The time runs from the end of the grace period until content.stat on the adder confirms 3 live copies of every block of both files; "copied" is the sum of every survivor's repair pushes and pulls. "Least" is the issue's minimum, all the dead node held; the true least is below it where the node that replaces the dead one in a block's set is the adder, which keeps a pinned copy of everything it added (then nothing needs copying), so "copied ÷ least" can be under 1.`,
  availability: async ctx => await shoal.availability(ctx),
  timeoutMs: ctx => deadline(ctx.fileSize * 8, 2, 240_000),
  async run (ctx) {
    const second = path.join(await ctx.newDir('repair-data'), 'second.bin')
    await writeRandomFile(second, ctx.fileSize, `repair-${ctx.round}`)
    const adder = await ShoalDaemon.start(ctx, 'repair-adder', undefined, 30_000, CONFIG)
    const nodes: ShoalDaemon[] = [adder]
    try {
      for (let i = 1; i < NODES; i++) nodes.push(await ShoalDaemon.start(ctx, `repair-${i}`, adder.address, 30_000, CONFIG))
      for (const d of nodes.slice(1)) await adder.waitForPeer(d.peerId)
      const cids: string[] = []
      for (const file of [ctx.dataFile, second]) cids.push((await adder.add(file, ctx.fileSize, deadline(ctx.fileSize * K), ADD_PATH)).cid)

      const stored = await Promise.all(nodes.slice(1).map(async d => (await d.call<{ bytes: number }>('repo.stat')).bytes))
      const victim = nodes[1 + stored.indexOf(Math.max(...stored))]
      const held = Math.max(...stored)
      const survivors = nodes.filter(n => n !== victim)
      const movedNow = async (): Promise<number> => (await Promise.all(survivors.map(async d => {
        const t = (await d.call<RepairStatus>('repair.status')).totals
        return t.pushed.bytes + t.pulled.bytes
      }))).reduce((a, b) => a + b, 0)
      const before = await movedNow()
      await victim.kill()
      const killedAt = performance.now()
      await pollFor(async () => {
        for (const cid of cids) {
          const stat = await adder.call<{ replicas: { blocks: number, histogram: number[] } }>('content.stat', 60_000, { cid })
          if (stat.replicas.histogram[K] !== stat.replicas.blocks) return undefined
        }
        return true
      }, 'every block on 3 live nodes again', deadline(held * 4, 2, 200_000), 500)
      const seconds = Math.max(0.001, (performance.now() - killedAt) / 1000 - GRACE_SECONDS)
      const moved = await movedNow() - before
      return {
        metrics: { heldMB: held / 1e6, movedMB: moved / 1e6, ratio: moved / held, seconds, mbps: moved / 1e6 / seconds },
        info: { victim: victim.peerId }
      }
    } finally {
      await Promise.all(nodes.map(async n => { await n.stop() }))
    }
  }
}
