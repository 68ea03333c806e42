/** Worker: CPU reference rates (SHA-256 over chunk-sized buffers). */
import { createHash } from 'node:crypto'
import { keystream } from '../lib/data.ts'
import { serve } from './ipc.ts'

const CHUNK = 256 * 1024

serve({
  async sha256 ({ bytes, minSeconds }: { bytes: number, minSeconds: number }) {
    const source = keystream('sha256').next().value as Buffer
    const chunks: Buffer[] = []
    for (let off = 0; off + CHUNK <= source.length; off += CHUNK) chunks.push(source.subarray(off, off + CHUNK))
    // warm up
    for (const c of chunks) createHash('sha256').update(c).digest()
    let done = 0
    let i = 0
    const started = performance.now()
    let seconds = 0
    while (done < bytes || seconds < minSeconds) {
      createHash('sha256').update(chunks[i++ % chunks.length]).digest()
      done += CHUNK
      if ((i & 63) === 0) seconds = (performance.now() - started) / 1000
    }
    seconds = (performance.now() - started) / 1000
    return { bytes: done, seconds }
  }
})
