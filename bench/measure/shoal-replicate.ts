/**
 * (e) Three copies the shoal way: five daemons, each in its own process, all
 * connected; one adds the test file with k = 3 and write quorum 3, so its add
 * answers once every block is confirmed on all 3 peers of its replica set.
 * Timed from the start of the upload to that answer (import and replication
 * together). Helia has no replication: its side of the target is the three
 * fetchers of copies.ts.
 */
import { gcMeter, per256MiB } from '../lib/gc.ts'
import { ProcessMeter } from '../lib/proc.ts'
import { deadline } from '../lib/peers.ts'
import { ShoalDaemon, shoal } from '../lib/shoal-peer.ts'
import { mbps } from '../lib/stats.ts'
import type { Measurement } from '../lib/runner.ts'

export const NODES = 5
export const K = 3
const ADD_PATH = `/api/v1/add?cid-version=1&chunker=size-262144&replicas=${K}&quorum=${K}`

export const shoalReplicate: Measurement = {
  id: 'shoal-replicate',
  title: `${K} copies by replication (shoal)`,
  system: 'shoal',
  group: 'replicate',
  repeat: 'round',
  metrics: [
    { name: 'seconds', label: `time until all ${K} replicas are confirmed`, unit: 's', digits: 2 },
    { name: 'mbps', label: 'file size / time', unit: 'MB/s' },
    { name: 'adderCpu', label: 'adder CPU', unit: 's', digits: 2 },
    { name: 'othersCpu', label: 'CPU of the other nodes (sum)', unit: 's', digits: 2 },
    { name: 'adderFullGcs', label: 'adder full GCs per 256 MiB', unit: '', digits: 1 },
    { name: 'othersFullGcs', label: 'full GCs of the other nodes per 256 MiB (sum)', unit: '', digits: 1 },
    { name: 'adderRss', label: 'adder peak RSS', unit: 'MB' },
    { name: 'replicaRss', label: 'largest other node peak RSS', unit: 'MB' }
  ],
  description: `${NODES} daemons, each in its own process and connected to the adder; the adder adds the test file with \`replicas=${K}&quorum=${K}\`, so the add answers once every block is confirmed by all ${K} peers of its replica set (the ${K} nodes nearest to the block's key, the adder among them when it is near). Timed from the start of the upload to the answer: import and replication together. The answer's replication report is checked: every block has ${K} confirmed replicas. CPU and full GCs (from \`--trace-gc\`) of the adder and, summed, of the other nodes over the add.`,
  availability: async ctx => await shoal.availability(ctx),
  timeoutMs: ctx => deadline(ctx.fileSize * K, 2, 120_000),
  async run (ctx) {
    const adder = await ShoalDaemon.start(ctx, 'replicate-adder')
    const nodes: ShoalDaemon[] = [adder]
    try {
      const others = await Promise.all(Array.from({ length: NODES - 1 }, async (_, i) => {
        const d = await ShoalDaemon.start(ctx, `replicate-${i + 1}`, adder.address)
        nodes.push(d)
        return d
      }))
      for (const d of others) await adder.waitForPeer(d.peerId)
      const adderMeter = new ProcessMeter(adder.pid)
      const meters = others.map(d => new ProcessMeter(d.pid))
      const gcMeters = nodes.map(d => gcMeter(d))
      const added = await adder.add(ctx.dataFile, ctx.fileSize, deadline(ctx.fileSize * K), ADD_PATH)
      const a = adderMeter.stop()
      const usage = meters.map(m => m.stop())
      const [adderGc, ...othersGc] = await Promise.all(gcMeters.map(async m => await m.stop()))
      const r = added.replication
      if (r == null) throw new Error('the add answer has no replication report')
      if (r.short !== 0 || r.replicas[K] !== r.blocks) {
        throw new Error(`not every block reached ${K} confirmed replicas: ${JSON.stringify(r)}`)
      }
      return {
        metrics: {
          seconds: added.seconds,
          mbps: mbps(ctx.fileSize, added.seconds),
          adderCpu: a.cpuSeconds,
          othersCpu: usage.reduce((sum, u) => sum + u.cpuSeconds, 0),
          // the single binary does not count its collections
          ...(adderGc == null ? {} : { adderFullGcs: per256MiB(adderGc.full, ctx.fileSize) }),
          ...(othersGc.some(g => g == null) ? {} : { othersFullGcs: per256MiB(othersGc.reduce((sum, g) => sum + (g?.full ?? 0), 0), ctx.fileSize) }),
          adderRss: a.peakRss / 1e6,
          replicaRss: Math.max(...usage.map(u => u.peakRss)) / 1e6
        },
        info: {
          cid: added.cid,
          blocks: r.blocks,
          ...(adderGc == null ? {} : { adderFullGcReasons: JSON.stringify(adderGc.fullReasons) }),
          ...(othersGc.some(g => g == null) ? {} : { othersFullGcs: othersGc.map(g => g?.full).join(' '), othersFullGcReasons: othersGc.map(g => JSON.stringify(g?.fullReasons)).join(' ') })
        }
      }
    } finally {
      await Promise.all(nodes.map(async n => { await n.stop() }))
    }
  }
}
