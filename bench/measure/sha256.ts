/**
 * (a) The SHA-256 rate of one core (node:crypto, 256 KiB buffers, the size of
 * a chunk): every add hashes every byte once, so this is the ceiling an add
 * is compared against. It runs in a child process like everything else.
 */
import path from 'node:path'
import { Worker } from '../lib/worker.ts'
import type { Measurement } from '../lib/runner.ts'

export const sha256Rate: Measurement = {
  id: 'sha256',
  title: 'SHA-256, one core',
  system: 'reference',
  group: 'reference',
  repeat: 'round',
  metrics: [{ name: 'mbps', label: 'rate', unit: 'MB/s' }],
  description: 'node:crypto SHA-256 over 256 KiB buffers (one digest per buffer, as per chunk), in one process, for at least 1 s and at least the test file size.',
  timeoutMs: () => 60_000,
  async run (ctx) {
    const worker = await Worker.start(ctx.scope, path.join(ctx.root, 'bench/workers/cpu.ts'), 'sha256 worker')
    try {
      const r = await worker.call<{ bytes: number, seconds: number }>('sha256', { bytes: ctx.fileSize, minSeconds: 1 }, 50_000)
      return { metrics: { mbps: r.bytes / 1e6 / r.seconds } }
    } finally {
      await worker.stop()
    }
  }
}
