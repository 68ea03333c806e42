/**
 * (d) and (f) Fetch: a second node, in another process, connected to the
 * adder, reads the whole file. Throughput, time to first byte, CPU seconds
 * and peak RSS of both processes over the fetch.
 */
import { gcMeter, per256MiB } from '../lib/gc.ts'
import { ProcessMeter } from '../lib/proc.ts'
import { deadline } from '../lib/peers.ts'
import type { PeerSystem } from '../lib/peers.ts'
import { mbps } from '../lib/stats.ts'
import type { Measurement } from '../lib/runner.ts'

export function fetchMeasurement (sys: PeerSystem): Measurement {
  return {
    id: `${sys.system}-fetch${sys.variant == null ? '' : `-${sys.variant}`}`,
    title: `Fetch (${sys.label})`,
    system: sys.system,
    group: 'fetch',
    repeat: 'round',
    metrics: [
      { name: 'mbps', label: 'throughput', unit: 'MB/s' },
      { name: 'ttfbMs', label: 'time to first byte', unit: 'ms', digits: 0 },
      { name: 'fetcherCpu', label: 'fetcher CPU', unit: 's', digits: 2 },
      { name: 'fetcherCpuPerGiB', label: 'fetcher CPU per GiB', unit: 's', digits: 2 },
      { name: 'fetcherRss', label: 'fetcher peak RSS', unit: 'MB' },
      { name: 'serverCpu', label: 'adder CPU', unit: 's', digits: 2 },
      { name: 'serverCpuPerGiB', label: 'adder CPU per GiB (serving)', unit: 's', digits: 2 },
      { name: 'serverRss', label: 'adder peak RSS', unit: 'MB' },
      { name: 'fetcherFullGcs', label: 'fetcher full GCs per 256 MiB', unit: '', digits: 1 },
      { name: 'fetcherScavenges', label: 'fetcher scavenges per 256 MiB', unit: '', digits: 0 },
      { name: 'serverFullGcs', label: 'adder full GCs per 256 MiB', unit: '', digits: 1 },
      { name: 'serverScavenges', label: 'adder scavenges per 256 MiB', unit: '', digits: 0 }
    ],
    description: 'The adder imports the file (not timed); a second node in its own process connects to it and reads the whole file from its first byte to its last. Timed from the request to the last byte. GCs (shoal only): each daemon\'s collections over the fetch, counted from its `--trace-gc` lines, scaled to 256 MiB of file.',
    availability: async ctx => await sys.availability(ctx),
    timeoutMs: ctx => deadline(ctx.fileSize, 2, 120_000),
    async run (ctx) {
      const adder = await sys.start(ctx, 'adder')
      const nodes = [adder]
      try {
        const { cid } = await adder.add(ctx.dataFile, ctx.fileSize, deadline(ctx.fileSize))
        const fetcher = await sys.start(ctx, 'fetcher', adder)
        nodes.push(fetcher)
        const meters = [new ProcessMeter(fetcher.pid), new ProcessMeter(adder.pid)]
        const gcMeters = [gcMeter(fetcher), gcMeter(adder)]
        const got = await fetcher.cat(cid, deadline(ctx.fileSize, 2))
        const [f, s] = meters.map(m => m.stop())
        const [fg, sg] = await Promise.all(gcMeters.map(async m => await m.stop()))
        if (got.bytes !== ctx.fileSize) throw new Error(`fetched ${got.bytes} bytes of ${ctx.fileSize}`)
        return {
          metrics: {
            mbps: mbps(got.bytes, got.seconds),
            ttfbMs: got.ttfbMs,
            fetcherCpu: f.cpuSeconds,
            fetcherCpuPerGiB: f.cpuSeconds / (got.bytes / 2 ** 30),
            fetcherRss: f.peakRss / 1e6,
            serverCpu: s.cpuSeconds,
            serverCpuPerGiB: s.cpuSeconds / (got.bytes / 2 ** 30),
            serverRss: s.peakRss / 1e6,
            // a system that does not count its collections (Helia) has no such metrics
            ...(fg == null ? {} : { fetcherFullGcs: per256MiB(fg.full, got.bytes), fetcherScavenges: per256MiB(fg.scavenges, got.bytes) }),
            ...(sg == null ? {} : { serverFullGcs: per256MiB(sg.full, got.bytes), serverScavenges: per256MiB(sg.scavenges, got.bytes) })
          },
          info: {
            cid,
            ...(fg == null ? {} : { fetcherFullGcReasons: JSON.stringify(fg.fullReasons) }),
            ...(sg == null ? {} : { serverFullGcReasons: JSON.stringify(sg.fullReasons) })
          }
        }
      } finally {
        await Promise.all(nodes.map(async n => { await n.stop() }))
      }
    }
  }
}
