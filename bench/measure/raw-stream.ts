/**
 * (b) The raw libp2p stream: two processes, TCP + Noise + yamux, one stream,
 * a bulk transfer of the test file's size. This is the ceiling a fetch over
 * libp2p is compared against.
 */
import path from 'node:path'
import { ProcessMeter } from '../lib/proc.ts'
import { pickLoopback } from '../lib/peers.ts'
import { mbps } from '../lib/stats.ts'
import { Worker } from '../lib/worker.ts'
import type { Measurement } from '../lib/runner.ts'

export const rawStream: Measurement = {
  id: 'raw-stream',
  title: 'Raw libp2p stream',
  system: 'reference',
  group: 'reference',
  repeat: 'round',
  metrics: [
    { name: 'mbps', label: 'throughput', unit: 'MB/s' },
    { name: 'senderCpu', label: 'sender CPU', unit: 's', digits: 2 },
    { name: 'receiverCpu', label: 'receiver CPU', unit: 's', digits: 2 }
  ],
  description: 'Two processes on 127.0.0.1, libp2p TCP + Noise + yamux with default settings, one stream carrying the test file size in 256 KiB writes to a sink that answers with the byte count; timed from opening the stream to the answer.',
  timeoutMs: ctx => 60_000 + ctx.fileSize / 1e6 * 1000,
  async run (ctx) {
    const script = path.join(ctx.root, 'bench/workers/stream-node.ts')
    const [receiver, sender] = await Promise.all([
      Worker.start(ctx.scope, script, 'stream receiver'),
      Worker.start(ctx.scope, script, 'stream sender')
    ])
    try {
      const r = await receiver.call<{ addresses: string[], peerId: string }>('start')
      await sender.call('start')
      const address = pickLoopback(r.addresses, r.peerId)
      const meters = [new ProcessMeter(sender.pid), new ProcessMeter(receiver.pid)]
      const out = await sender.call<{ bytes: number, seconds: number }>('send', { address, bytes: ctx.fileSize, chunkSize: 256 * 1024 }, ctx.fileSize / 1e6 * 1000 + 30_000)
      const [s, rc] = meters.map(m => m.stop())
      return { metrics: { mbps: mbps(out.bytes, out.seconds), senderCpu: s.cpuSeconds, receiverCpu: rc.cpuSeconds } }
    } finally {
      await Promise.all([sender.stop(), receiver.stop()])
    }
  }
}
