/**
 * (c) and (f) Add: one node alone imports the test file (256 KiB chunks,
 * CID v1, raw leaves). Throughput, CPU seconds and peak RSS of the node's
 * process over the add.
 */
import { ProcessMeter } from '../lib/proc.ts'
import { deadline } from '../lib/peers.ts'
import type { PeerSystem } from '../lib/peers.ts'
import { mbps } from '../lib/stats.ts'
import type { Measurement } from '../lib/runner.ts'

export function addMeasurement (sys: PeerSystem): Measurement {
  return {
    id: `${sys.system}-add`,
    title: `Add (${sys.label})`,
    system: sys.system,
    group: 'add',
    repeat: 'round',
    metrics: [
      { name: 'mbps', label: 'throughput', unit: 'MB/s' },
      { name: 'cpu', label: 'CPU', unit: 's', digits: 2 },
      { name: 'peakRss', label: 'peak RSS', unit: 'MB' }
    ],
    description: 'One node, alone, imports the test file. CPU and peak RSS are those of the node\'s process over the add, read from /proc.',
    availability: async ctx => await sys.availability(ctx),
    timeoutMs: ctx => deadline(ctx.fileSize, 2, 90_000),
    async run (ctx) {
      const node = await sys.start(ctx, 'adder')
      try {
        const meter = new ProcessMeter(node.pid)
        const added = await node.add(ctx.dataFile, ctx.fileSize, deadline(ctx.fileSize))
        const usage = meter.stop()
        return {
          metrics: { mbps: mbps(ctx.fileSize, added.seconds), cpu: usage.cpuSeconds, peakRss: usage.peakRss / 1e6 },
          info: { cid: added.cid, peakRssWindowed: usage.peakIsWindowed }
        }
      } finally {
        await node.stop()
      }
    }
  }
}
