/**
 * (e) and (f) Three copies: three nodes, each in its own process and
 * connected to the adder, read the whole file at the same time; the time is
 * until the last of them has all of it.
 */
import { ProcessMeter } from '../lib/proc.ts'
import { deadline } from '../lib/peers.ts'
import type { PeerSystem, StoragePeer } from '../lib/peers.ts'
import { mbps } from '../lib/stats.ts'
import type { Measurement } from '../lib/runner.ts'

export const COPIES = 3

export function copiesMeasurement (sys: PeerSystem): Measurement {
  return {
    id: `${sys.system}-copies`,
    title: `${COPIES} copies (${sys.label})`,
    system: sys.system,
    group: 'copies',
    repeat: 'round',
    metrics: [
      { name: 'seconds', label: `time until all ${COPIES} have it`, unit: 's', digits: 2 },
      { name: 'aggregateMbps', label: 'aggregate throughput', unit: 'MB/s' },
      { name: 'slowestMbps', label: 'slowest node', unit: 'MB/s' },
      { name: 'serverCpu', label: 'adder CPU', unit: 's', digits: 2 },
      { name: 'serverRss', label: 'adder peak RSS', unit: 'MB' },
      { name: 'fetcherRss', label: 'largest fetcher peak RSS', unit: 'MB' }
    ],
    description: `The adder imports the file (not timed); ${COPIES} nodes, each in its own process, connect to it and then read the whole file at once. Timed from the ${COPIES} simultaneous requests until the last byte reaches the last of them. Aggregate throughput = ${COPIES} x file size / time.`,
    availability: async ctx => await sys.availability(ctx),
    timeoutMs: ctx => deadline(ctx.fileSize * COPIES, 2, 120_000),
    async run (ctx) {
      const adder = await sys.start(ctx, 'adder')
      const nodes: StoragePeer[] = [adder]
      try {
        const { cid } = await adder.add(ctx.dataFile, ctx.fileSize, deadline(ctx.fileSize))
        const fetchers = await Promise.all(Array.from({ length: COPIES }, async (_, i) => await sys.start(ctx, `copy-${i + 1}`, adder)))
        nodes.push(...fetchers)
        const serverMeter = new ProcessMeter(adder.pid)
        const meters = fetchers.map(f => new ProcessMeter(f.pid))
        const begin = performance.now()
        const got = await Promise.all(fetchers.map(async f => await f.cat(cid, deadline(ctx.fileSize * COPIES, 2))))
        const seconds = (performance.now() - begin) / 1000
        const server = serverMeter.stop()
        const usage = meters.map(m => m.stop())
        for (const g of got) if (g.bytes !== ctx.fileSize) throw new Error(`a copy got ${g.bytes} bytes of ${ctx.fileSize}`)
        return {
          metrics: {
            seconds,
            aggregateMbps: mbps(ctx.fileSize * COPIES, seconds),
            slowestMbps: Math.min(...got.map(g => mbps(g.bytes, g.seconds))),
            serverCpu: server.cpuSeconds,
            serverRss: server.peakRss / 1e6,
            fetcherRss: Math.max(...usage.map(u => u.peakRss)) / 1e6
          },
          info: { cid }
        }
      } finally {
        await Promise.all(nodes.map(async n => { await n.stop() }))
      }
    }
  }
}
