import { createHash, randomBytes } from 'node:crypto'
import { summaryDigest } from '../../src/protocols/range-sync.ts'
import type { KeyRange, RangeSummary, RangeSyncStore } from '../../src/protocols/range-sync.ts'
import type { RemoteRanges } from '../../src/replication/anti-entropy.ts'
import { inRange } from '../../src/replication/ranges.ts'

export const kadOf = (mh: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(mh).digest())
export const randomMultihash = (): Uint8Array => Uint8Array.from([0x12, 0x20, ...randomBytes(32)])
export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/** A RangeSyncStore over a list of multihashes (kept sorted by kad). */
export function arrayStore (mhs: Uint8Array[]): RangeSyncStore {
  const entries = mhs.map(mh => ({ mh, kad: kadOf(mh) })).sort((a, b) => Buffer.compare(a.kad, b.kad))
  return {
    summary: async (range) => {
      const hash = new Uint8Array(32)
      let count = 0
      for (const e of entries) {
        if (!inRange(e.kad, range)) continue
        for (let i = 0; i < 32; i++) hash[i] ^= e.kad[i]
        count++
      }
      return { hash, count }
    },
    keys: async (range, after, limit) => entries.filter(e => inRange(e.kad, range) && (after == null || Buffer.compare(e.kad, after) > 0)).slice(0, limit).map(e => e.mh)
  }
}

/** A peer's side of the exchange answered straight from `store`, counting the requests. */
export function directRemote (store: RangeSyncStore, pageKeys = 1024): RemoteRanges & { requests: number, keysSent: number, summariesSent: number } {
  const remote = {
    requests: 0,
    keysSent: 0,
    summariesSent: 0,
    summaries: async (ranges: KeyRange[], digest?: Uint8Array): Promise<'same' | RangeSummary[]> => {
      remote.requests++
      const sums = await Promise.all(ranges.map(async r => await store.summary(r)))
      if (digest != null && Buffer.from(summaryDigest(sums)).equals(digest)) return 'same'
      remote.summariesSent += sums.length
      return sums
    },
    keys: async (range: KeyRange, after?: Uint8Array): Promise<{ keys: Uint8Array[], more: boolean }> => {
      remote.requests++
      const k = await store.keys(range, after, pageKeys + 1)
      remote.keysSent += Math.min(k.length, pageKeys)
      return { keys: k.slice(0, pageKeys), more: k.length > pageKeys }
    }
  }
  return remote
}
