/**
 * (c) and (f) Add: one node alone imports the test file (256 KiB chunks,
 * CID v1, raw leaves). Throughput, CPU seconds and peak RSS of the node's
 * process over the add.
 */
import { gcMeter, per256MiB } from '../lib/gc.ts'
import { ProcessMeter } from '../lib/proc.ts'
import { deadline } from '../lib/peers.ts'
import type { PeerSystem } from '../lib/peers.ts'
import { mbps } from '../lib/stats.ts'
import type { Measurement } from '../lib/runner.ts'

export function addMeasurement (sys: PeerSystem): Measurement {
  return {
    id: `${sys.system}-add${sys.variant == null ? '' : `-${sys.variant}`}`,
    title: `Add (${sys.label})`,
    system: sys.system,
    group: 'add',
    repeat: 'round',
    metrics: [
      { name: 'mbps', label: 'throughput', unit: 'MB/s' },
      { name: 'cpu', label: 'CPU', unit: 's', digits: 2 },
      { name: 'cpuPerGiB', label: 'CPU per GiB', unit: 's', digits: 2 },
      { name: 'peakRss', label: 'peak RSS', unit: 'MB' },
      { name: 'fullGcs', label: 'full GCs per 256 MiB', unit: '', digits: 1 },
      { name: 'scavenges', label: 'scavenges per 256 MiB', unit: '', digits: 0 }
    ],
    description: 'One node, alone, imports the test file. CPU and peak RSS are those of the node\'s process over the add, read from /proc. GCs (shoal only): the daemon\'s collections counted from its `--trace-gc` lines, scaled to 256 MiB of file.',
    availability: async ctx => await sys.availability(ctx),
    timeoutMs: ctx => deadline(ctx.fileSize, 2, 90_000),
    async run (ctx) {
      const node = await sys.start(ctx, 'adder')
      try {
        const meter = new ProcessMeter(node.pid)
        const gc = gcMeter(node)
        const added = await node.add(ctx.dataFile, ctx.fileSize, deadline(ctx.fileSize))
        const usage = meter.stop()
        const gcs = await gc.stop()
        return {
          metrics: {
            mbps: mbps(ctx.fileSize, added.seconds),
            cpu: usage.cpuSeconds,
            cpuPerGiB: usage.cpuSeconds / (ctx.fileSize / 2 ** 30),
            peakRss: usage.peakRss / 1e6,
            // a system that does not count its collections (Helia) has no such metrics
            ...(gcs == null ? {} : { fullGcs: per256MiB(gcs.full, ctx.fileSize), scavenges: per256MiB(gcs.scavenges, ctx.fileSize) })
          },
          info: { cid: added.cid, peakRssWindowed: usage.peakIsWindowed, ...(gcs == null ? {} : { fullGcReasons: JSON.stringify(gcs.fullReasons) }) }
        }
      } finally {
        await node.stop()
      }
    }
  }
}
