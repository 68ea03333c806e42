/**
 * Benchmark input: incompressible, deterministic bytes from an AES-256-CTR
 * keystream (the same seed and size give the same file, hence the same CID,
 * on every run and machine), generated at about the speed of the disk.
 */
import { createCipheriv, createHash } from 'node:crypto'
import fs from 'node:fs/promises'

const BLOCK = 4 * 1024 * 1024

/** An endless keystream, `BLOCK` bytes at a time; the caller takes what it needs. */
export function * keystream (seed: string): Generator<Buffer> {
  const key = createHash('sha256').update(`shoal-bench:${seed}`).digest()
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16))
  const zeros = Buffer.alloc(BLOCK)
  for (;;) yield cipher.update(zeros)
}

/** Write `size` deterministic random bytes to `file`; returns the seconds it took. */
export async function writeRandomFile (file: string, size: number, seed = 'default'): Promise<number> {
  const started = performance.now()
  const handle = await fs.open(file, 'w', 0o600)
  try {
    let left = size
    for (const block of keystream(seed)) {
      if (left <= 0) break
      const piece = left >= block.length ? block : block.subarray(0, left)
      await handle.write(piece)
      left -= piece.length
    }
  } finally {
    await handle.close()
  }
  return (performance.now() - started) / 1000
}
