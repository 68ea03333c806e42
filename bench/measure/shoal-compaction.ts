/**
 * Compaction of the packed store while adds go on: a ContentStore (packed,
 * 64 MiB segments, in this process) holding the test size in 256 KiB
 * blocks; three quarters are removed by GC, and while the background
 * compaction copies the rest out of the dead segments, an add of 4 MiB
 * (16 blocks, then sync) runs again and again. Reported: how long
 * compaction took and what it freed, the longest event-loop pause meanwhile
 * (a 5 ms timer's worst lateness), and the adds' median and longest time.
 */
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import { ContentStore } from '../../src/store/content-store.ts'
import type { Measurement } from '../lib/runner.ts'

const BLOCK = 256 * 1024
const SEGMENT = 64 * 1024 * 1024

function block (): { cid: CID, bytes: Uint8Array } {
  const bytes = randomBytes(BLOCK)
  return { cid: CID.createV1(raw.code, Digest.create(sha256.code, createHash('sha256').update(bytes).digest())), bytes }
}

async function dirBytes (dir: string): Promise<number> {
  let total = 0
  for (const f of await fs.readdir(dir)) total += (await fs.stat(path.join(dir, f))).size
  return total
}

export const shoalCompaction: Measurement = {
  id: 'shoal-compaction',
  title: 'Compaction of the packed store while adding (shoal)',
  system: 'shoal',
  group: 'large',
  repeat: 'once',
  metrics: [
    { name: 'storedMB', label: 'stored before GC', unit: 'MB' },
    { name: 'freedMB', label: 'segment bytes freed by compaction', unit: 'MB' },
    { name: 'seconds', label: 'compaction time (after GC)', unit: 's', digits: 1 },
    { name: 'maxPauseMs', label: 'longest event-loop pause during compaction', unit: 'ms', digits: 1 },
    { name: 'addMedianMs', label: 'a 4 MiB add (put + sync) during compaction, median', unit: 'ms', digits: 1 },
    { name: 'addMaxMs', label: 'a 4 MiB add during compaction, longest', unit: 'ms', digits: 1 }
  ],
  description: 'A ContentStore in this process (the packed layout with 64 MiB segments, fsync on) holding the test size in 256 KiB blocks, one in four pinned; GC removes the rest and the background compaction copies the pinned ones out of the dead segments (8 MiB per commit). Meanwhile a 4 MiB add (16 new blocks, then sync) runs back to back, and a 5 ms timer measures how late the event loop lets it fire.',
  timeoutMs: () => 600_000,
  async run (ctx) {
    const dir = await ctx.newDir('compaction')
    const store = await ContentStore.open({ dir, segmentBytes: SEGMENT })
    try {
      const count = Math.max(64, Math.floor(ctx.fileSize / BLOCK))
      for (let i = 0; i < count; i++) {
        const b = block()
        await store.blocks.put(b.cid, b.bytes, { verified: true })
        if (i % 4 === 0) await store.pin(b.cid)
        if (i % 64 === 63) await store.blocks.sync()
      }
      await store.blocks.sync()
      const packs = path.join(dir, 'packs')
      const before = await dirBytes(packs)
      await store.gc()
      let maxPause = 0
      let expected = performance.now() + 5
      const probe = setInterval(() => {
        const now = performance.now()
        maxPause = Math.max(maxPause, now - expected)
        expected = now + 5
      }, 5)
      const started = performance.now()
      let compacting = true
      const done = store.compacted().finally(() => { compacting = false })
      const adds: number[] = []
      while (compacting) {
        const t = performance.now()
        for (let j = 0; j < 16; j++) {
          const b = block()
          await store.blocks.put(b.cid, b.bytes, { verified: true })
        }
        await store.blocks.sync()
        adds.push(performance.now() - t)
      }
      await done
      const seconds = (performance.now() - started) / 1000
      clearInterval(probe)
      const after = await dirBytes(packs)
      adds.sort((a, b) => a - b)
      return {
        metrics: {
          storedMB: before / 1e6,
          freedMB: Math.max(0, before + adds.length * 16 * BLOCK - after) / 1e6,
          seconds,
          maxPauseMs: maxPause,
          addMedianMs: adds[Math.floor(adds.length / 2)] ?? 0,
          addMaxMs: adds[adds.length - 1] ?? 0
        },
        info: { adds: adds.length }
      }
    } finally {
      await store.close()
    }
  }
}
