import assert from 'node:assert/strict'
import type { PeerId } from '@libp2p/interface'
import fc from 'fast-check'
import { compareDistance, peerKadId } from '../../src/replication/placement.ts'
import { inRange, rangeEnd, rangeOf, responsibilityRanges, subRanges } from '../../src/replication/ranges.ts'

/** A stand-in peer id whose multihash is the given bytes (only its place in the keyspace matters here). */
function fakePeer (bytes: Uint8Array, i: number): PeerId {
  return { toString: () => `peer-${i}`, toMultihash: () => ({ bytes }) } as unknown as PeerId
}

const arbPeers = fc.uniqueArray(fc.uint8Array({ minLength: 8, maxLength: 8 }), { minLength: 1, maxLength: 14, selector: b => Buffer.from(b).toString('hex') })
  .map(list => list.map((b, i) => fakePeer(b, i)))
const arbKey = fc.uint8Array({ minLength: 32, maxLength: 32 })

describe('replication/ranges: the keyspace cut where replica sets change', () => {
  it('the range of any key has that key\'s replica set: the k members nearest to it', () => {
    fc.assert(fc.property(arbPeers, fc.integer({ min: 1, max: 5 }), fc.array(arbKey, { minLength: 1, maxLength: 20 }), (peers, k, keys) => {
      const ranges = responsibilityRanges(peers, k)
      for (const key of keys) {
        const range = rangeOf(ranges, key)
        assert.ok(inRange(key, range))
        const nearest = [...peers].sort((a, b) => compareDistance(peerKadId(a), peerKadId(b), key)).slice(0, k).map(String)
        assert.deepEqual([...range.replicas].sort(), nearest.sort())
      }
    }), { numRuns: 300 })
  })

  it('the ranges cover the keyspace once, in order, each one interval', () => {
    fc.assert(fc.property(arbPeers, fc.integer({ min: 1, max: 5 }), (peers, k) => {
      const ranges = responsibilityRanges(peers, k)
      assert.deepEqual(ranges[0].lo, new Uint8Array(32))
      for (let i = 1; i < ranges.length; i++) assert.deepEqual(ranges[i].lo, rangeEnd(ranges[i - 1]))
      assert.equal(rangeEnd(ranges[ranges.length - 1]), undefined)
      if (peers.length <= k) assert.equal(ranges.length, 1)
    }), { numRuns: 300 })
  })

  it('sub-ranges split a range into 16 intervals that tile it', () => {
    const range = { lo: Uint8Array.from([0b1010_0000, ...new Uint8Array(31)]), depth: 3 }
    const subs = subRanges(range)
    assert.equal(subs.length, 16)
    assert.deepEqual(subs[0].lo, range.lo)
    for (let i = 1; i < subs.length; i++) assert.deepEqual(subs[i].lo, rangeEnd(subs[i - 1]))
    assert.deepEqual(rangeEnd(subs[15]), rangeEnd(range))
    assert.equal(subs.every(s => s.depth === 7 && inRange(s.lo, range)), true)
  })

  it('stays small: tens of ranges for tens of members', () => {
    const peers = Array.from({ length: 30 }, (_, i) => fakePeer(Uint8Array.from({ length: 8 }, (_, j) => (i * 37 + j * 101 + i * j * 13) & 0xff), i))
    const ranges = responsibilityRanges(peers, 3)
    assert.ok(ranges.length >= 10 && ranges.length < 600, `${ranges.length} ranges`)
  })
})
