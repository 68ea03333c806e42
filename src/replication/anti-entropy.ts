/**
 * Anti-entropy between two holders of the same key ranges: what one stores
 * in them that the other does not, found at a cost that follows the
 * difference, not what is stored.
 *
 * Both sides summarise a range as the XOR of the kads of the blocks they
 * store in it, and its count (protocols/range-sync.ts). One digest over the
 * shared ranges settles a pair in sync in one small round trip. Where the
 * summaries differ the range is cut into 16 sub-ranges and compared again,
 * down to ranges small enough (or empty on one side) to list their keys;
 * each such leaf yields its difference, so the caller can move blocks while
 * the walk goes on.
 */
import type { Metadata } from '../store/metadata.ts'
import { KEY_BYTES, summaryDigest } from '../protocols/range-sync.ts'
import type { KeyRange, RangeSummary, RangeSyncStore } from '../protocols/range-sync.ts'
import { rangeEnd, subRanges } from './ranges.ts'

/** Ranges with at most this many keys on both sides are compared key by key. */
const LEAF_KEYS = 256

/** The side of the exchange that answers (a RangeSession, or a stand-in in tests). */
export interface RemoteRanges {
  summaries(ranges: KeyRange[], digest?: Uint8Array, options?: { signal?: AbortSignal }): Promise<'same' | RangeSummary[]>
  keys(range: KeyRange, after?: Uint8Array, options?: { signal?: AbortSignal }): Promise<{ keys: Uint8Array[], more: boolean }>
}

/** Rows of the kad index read at a time; the event loop runs between pages. */
const PAGE = 2048

/**
 * Summaries and keys of what the store holds, from its kad index, a page at
 * a time with a turn of the event loop between pages: a range of a million
 * blocks takes a while to summarise, and the node serves everyone meanwhile.
 */
export function storeRanges (meta: Pick<Metadata, 'blocksInRange'>): RangeSyncStore {
  return {
    summary: async (range) => {
      const hash = new Uint8Array(KEY_BYTES)
      let count = 0
      const hi = rangeEnd(range)
      let after: Uint8Array | undefined
      while (true) {
        const page = meta.blocksInRange(range.lo, hi, { after, limit: PAGE })
        for (const { kad } of page) {
          for (let i = 0; i < KEY_BYTES; i++) hash[i] ^= kad[i]
        }
        count += page.length
        if (page.length < PAGE) break
        after = page[page.length - 1].kad
        await new Promise(resolve => setImmediate(resolve))
      }
      return { hash, count }
    },
    keys: async (range, after, limit) => meta.blocksInRange(range.lo, rangeEnd(range), { after, limit }).map(r => r.mh)
  }
}

export interface RangeDifference {
  range: KeyRange
  /** multihashes stored here and not there */
  missingThere: Uint8Array[]
  /** multihashes stored there and not here */
  missingHere: Uint8Array[]
}

export interface DifferenceOptions {
  signal?: AbortSignal
  /** the kad of a multihash (the store's kadOf) */
  kadOf(mh: Uint8Array): Uint8Array
  /** at most this many ranges per summary request (the protocol's limit) */
  maxRanges?: number
}

/**
 * The differences between this node and a peer over `ranges`, leaf by leaf
 * (none when in sync: one digest round trip).
 */
export async function * differences (ranges: KeyRange[], local: RangeSyncStore, remote: RemoteRanges, options: DifferenceOptions): AsyncGenerator<RangeDifference> {
  if (ranges.length === 0) return
  const { signal } = options
  const maxRanges = options.maxRanges ?? 4096
  const mine = await summarise(ranges, local)
  const first = await remote.summaries(ranges.slice(0, maxRanges), ranges.length <= maxRanges ? summaryDigest(mine) : undefined, { signal })
  if (first === 'same') return
  const theirs = ranges.length <= maxRanges ? first : [...first, ...await remoteSummaries(ranges.slice(maxRanges), remote, maxRanges, signal)]
  let level = ranges.map((range, i) => ({ range, mine: mine[i], theirs: theirs[i] })).filter(differs)
  while (level.length > 0) {
    const refine: KeyRange[] = []
    for (const d of level) {
      if (d.mine.count === 0 || d.theirs.count === 0 || (d.mine.count <= LEAF_KEYS && d.theirs.count <= LEAF_KEYS) || d.range.depth >= KEY_BYTES * 8) {
        yield await keyDifference(d.range, d.mine.count, d.theirs.count, local, remote, options)
      } else {
        refine.push(...subRanges(d.range))
      }
    }
    if (refine.length === 0) break
    const remoteSubs = await remoteSummaries(refine, remote, maxRanges, signal)
    const mineSubs = await summarise(refine, local)
    level = refine.map((range, i) => ({ range, mine: mineSubs[i], theirs: remoteSubs[i] })).filter(differs)
  }
}

async function summarise (ranges: KeyRange[], local: RangeSyncStore): Promise<RangeSummary[]> {
  const out: RangeSummary[] = []
  for (const r of ranges) out.push(await local.summary(r))
  return out
}

function differs (d: { mine: RangeSummary, theirs: RangeSummary }): boolean {
  return d.mine.count !== d.theirs.count || !Buffer.from(d.mine.hash).equals(d.theirs.hash)
}

async function remoteSummaries (ranges: KeyRange[], remote: RemoteRanges, maxRanges: number, signal?: AbortSignal): Promise<RangeSummary[]> {
  const out: RangeSummary[] = []
  for (let i = 0; i < ranges.length; i += maxRanges) {
    const answer = await remote.summaries(ranges.slice(i, i + maxRanges), undefined, { signal })
    if (answer === 'same') throw new Error('unreachable: no digest was sent')
    out.push(...answer)
  }
  return out
}

/** One leaf: both key lists (only the non-empty ones are asked for), compared. */
async function keyDifference (range: KeyRange, mineCount: number, theirsCount: number, local: RangeSyncStore, remote: RemoteRanges, options: DifferenceOptions): Promise<RangeDifference> {
  const mine = mineCount === 0 ? [] : await localKeys(range, local, options.kadOf)
  const theirs: Uint8Array[] = []
  if (theirsCount > 0) {
    let after: Uint8Array | undefined
    while (true) {
      const page = await remote.keys(range, after, { signal: options.signal })
      theirs.push(...page.keys)
      if (!page.more || page.keys.length === 0) break
      after = options.kadOf(page.keys[page.keys.length - 1])
    }
  }
  const hex = (mh: Uint8Array): string => Buffer.from(mh).toString('hex')
  const theirSet = new Set(theirs.map(hex))
  const mySet = new Set(mine.map(hex))
  return {
    range,
    missingThere: mine.filter(mh => !theirSet.has(hex(mh))),
    missingHere: theirs.filter(mh => !mySet.has(hex(mh)))
  }
}

async function localKeys (range: KeyRange, local: RangeSyncStore, kadOf: (mh: Uint8Array) => Uint8Array): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  let after: Uint8Array | undefined
  while (true) {
    const page = await local.keys(range, after, 4096)
    out.push(...page)
    if (page.length < 4096) return out
    after = kadOf(page[page.length - 1])
  }
}
