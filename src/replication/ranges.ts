/**
 * Responsibility ranges: the keyspace cut into prefix ranges inside each of
 * which the replica set (the k members nearest by XOR) is the same for
 * every key. A range is a prefix of `depth` bits, so it is one interval of
 * keys in kad order, which the store can scan and summarise.
 *
 * Found by splitting from the whole keyspace: within a prefix P of depth d,
 * the first d bits of every member's distance to a key in P are fixed
 * (member XOR P); when the k-th and the (k+1)-th member by those bits differ,
 * no key in P can reorder them across the boundary, so the set of the k
 * nearest is the same over P. Otherwise P is split in two. Members' places
 * are random, so the depth reached is about log2(members) plus a few bits.
 */
import type { PeerId } from '@libp2p/interface'
import { compareDistance, peerKadId } from './placement.ts'

export interface Range {
  /** the range's first key: its prefix, then zeros (32 bytes) */
  lo: Uint8Array
  /** bits of prefix (0: the whole keyspace) */
  depth: number
  /** the replica set of every key in the range (peer ids), nearest to the range's first key first */
  replicas: string[]
}

const KEY_BYTES = 32
const KEY_BITS = KEY_BYTES * 8

interface Member { id: string, kad: Uint8Array }

/** The ranges of the keyspace and their replica sets, for `members` (self included) and k, in key order. */
export function responsibilityRanges (members: PeerId[], k: number): Range[] {
  const unique = new Map<string, Member>()
  for (const p of members) unique.set(p.toString(), { id: p.toString(), kad: peerKadId(p) })
  const all = [...unique.values()]
  const out: Range[] = []
  const split = (lo: Uint8Array, depth: number): void => {
    const sorted = [...all].sort((a, b) => compareTruncated(a.kad, b.kad, lo, depth) || compareDistance(a.kad, b.kad, lo))
    if (sorted.length <= k || depth === KEY_BITS || compareTruncated(sorted[k - 1].kad, sorted[k].kad, lo, depth) < 0) {
      out.push({ lo, depth, replicas: sorted.slice(0, k).map(m => m.id) })
      return
    }
    split(lo, depth + 1)
    const upper = lo.slice()
    upper[depth >> 3] |= 0x80 >> (depth & 7)
    split(upper, depth + 1)
  }
  split(new Uint8Array(KEY_BYTES), 0)
  return out
}

/**
 * Compares the first `depth` bits of the distances of a and b to `target`
 * (a XOR target against b XOR target); 0 when they are equal there.
 */
function compareTruncated (a: Uint8Array, b: Uint8Array, target: Uint8Array, depth: number): number {
  const whole = depth >> 3
  for (let i = 0; i < whole; i++) {
    const da = a[i] ^ target[i]
    const db = b[i] ^ target[i]
    if (da !== db) return da - db
  }
  const rest = depth & 7
  if (rest === 0) return 0
  const mask = (0xff << (8 - rest)) & 0xff
  return ((a[whole] ^ target[whole]) & mask) - ((b[whole] ^ target[whole]) & mask)
}

/** The first key after the range (undefined when the range runs to the end of the keyspace). */
export function rangeEnd (range: { lo: Uint8Array, depth: number }): Uint8Array | undefined {
  if (range.depth === 0) return undefined
  const hi = range.lo.slice()
  // add 2^(256 - depth): the bit at position depth - 1, with carry
  let i = (range.depth - 1) >> 3
  let add = 0x80 >> ((range.depth - 1) & 7)
  while (i >= 0) {
    const sum = hi[i] + add
    hi[i] = sum & 0xff
    if (sum <= 0xff) return hi
    add = 1
    i--
  }
  return undefined
}

/** Whether `kad` lies in `range`. */
export function inRange (kad: Uint8Array, range: { lo: Uint8Array, depth: number }): boolean {
  return compareTruncated(kad, range.lo, new Uint8Array(KEY_BYTES), range.depth) === 0
}

/** The range (of `ranges`, in key order, covering the keyspace) that holds `kad`. */
export function rangeOf (ranges: Range[], kad: Uint8Array): Range {
  let low = 0
  let high = ranges.length - 1
  while (low < high) {
    const mid = (low + high + 1) >> 1
    if (Buffer.compare(ranges[mid].lo, kad) <= 0) low = mid
    else high = mid - 1
  }
  return ranges[low]
}

/** The 2^bits sub-ranges of `range` one level of `bits` deeper (fewer at the end of the keyspace's bits). */
export function subRanges (range: { lo: Uint8Array, depth: number }, bits = 4): Array<{ lo: Uint8Array, depth: number }> {
  const step = Math.min(bits, KEY_BITS - range.depth)
  const out: Array<{ lo: Uint8Array, depth: number }> = []
  for (let n = 0; n < 2 ** step; n++) {
    const lo = range.lo.slice()
    for (let b = 0; b < step; b++) {
      if ((n >> (step - 1 - b)) & 1) {
        const bit = range.depth + b
        lo[bit >> 3] |= 0x80 >> (bit & 7)
      }
    }
    out.push({ lo, depth: range.depth + step })
  }
  return out
}
