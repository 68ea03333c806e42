/**
 * (f) Memory on a large file: a shoal daemon adds a 2 GiB file, a second one
 * fetches all of it; the peak RSS of both daemons (target: < 300 MB, i.e.
 * memory stays flat whatever the file size).
 */
import { ProcessMeter } from '../lib/proc.ts'
import { deadline } from '../lib/peers.ts'
import type { StoragePeer } from '../lib/peers.ts'
import { shoal } from '../lib/shoal-peer.ts'
import { mbps } from '../lib/stats.ts'
import type { Measurement } from '../lib/runner.ts'

export const shoalLarge: Measurement = {
  id: 'shoal-large',
  title: 'Large file, peak RSS (shoal)',
  system: 'shoal',
  group: 'large',
  repeat: 'once',
  metrics: [
    { name: 'peakRss', label: 'peak RSS, largest daemon', unit: 'MB' },
    { name: 'adderRss', label: 'adder peak RSS (add + serving)', unit: 'MB' },
    { name: 'fetcherRss', label: 'fetcher peak RSS', unit: 'MB' },
    { name: 'addMbps', label: 'add throughput', unit: 'MB/s' },
    { name: 'catMbps', label: 'fetch throughput', unit: 'MB/s' },
    { name: 'sizeMiB', label: 'file size', unit: 'MiB', digits: 0 }
  ],
  description: 'A daemon alone adds the large file; a second daemon joins and reads all of it. Peak RSS (VmHWM, reset when the add starts) of the adder over add + serving, and of the fetcher over the fetch.',
  availability: async ctx => await shoal.availability(ctx),
  timeoutMs: ctx => deadline(ctx.largeSize * 2, 2, 180_000),
  async run (ctx) {
    const file = await ctx.largeFile()
    const adder = await shoal.start(ctx, 'large-adder')
    const nodes: StoragePeer[] = [adder]
    try {
      const adderMeter = new ProcessMeter(adder.pid)
      const added = await adder.add(file, ctx.largeSize, deadline(ctx.largeSize))
      const fetcher = await shoal.start(ctx, 'large-fetcher', adder)
      nodes.push(fetcher)
      const fetcherMeter = new ProcessMeter(fetcher.pid)
      const got = await fetcher.cat(added.cid, deadline(ctx.largeSize, 1))
      const a = adderMeter.stop()
      const f = fetcherMeter.stop()
      if (got.bytes !== ctx.largeSize) throw new Error(`fetched ${got.bytes} bytes of ${ctx.largeSize}`)
      return {
        metrics: {
          peakRss: Math.max(a.peakRss, f.peakRss) / 1e6,
          adderRss: a.peakRss / 1e6,
          fetcherRss: f.peakRss / 1e6,
          addMbps: mbps(ctx.largeSize, added.seconds),
          catMbps: mbps(got.bytes, got.seconds),
          sizeMiB: ctx.largeSize / 1024 / 1024
        },
        info: { cid: added.cid }
      }
    } finally {
      await Promise.all(nodes.map(async n => { await n.stop() }))
    }
  }
}
