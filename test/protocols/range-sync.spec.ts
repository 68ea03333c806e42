import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import { ProtocolError } from '../../src/errors.ts'
import type { ShoalLibp2p } from '../../src/net/libp2p.ts'
import { decodeFrameBody, encodeFrame } from '../../src/protocols/codec.ts'
import {
  decodeRequest, decodeResponse, DEFAULT_RANGE_SYNC_LIMITS, RANGE_SYNC_PROTOCOL, RangeSession, rangeSyncHandler, summaryDigest, toWire
} from '../../src/protocols/range-sync.ts'
import type { KeyRange, RangeRequest, RangeResponse } from '../../src/protocols/range-sync.ts'
import { connectedPair } from '../helpers/libp2p.ts'
import { arrayStore, kadOf, randomMultihash } from '../helpers/ranges.ts'

const L = DEFAULT_RANGE_SYNC_LIMITS

const WHOLE: KeyRange = { lo: new Uint8Array(32), depth: 0 }
const half = (bit: 0 | 1): KeyRange => ({ lo: Uint8Array.from([bit << 7, ...new Uint8Array(31)]), depth: 1 })

describe('protocols: range sync', () => {
  it('encodes every message type to the golden bytes, and decodes them back', async () => {
    const fixture = JSON.parse(await fs.readFile(new URL('../fixtures/protocols/range-sync.json', import.meta.url), 'utf8'))
    const lo = new Uint8Array(32)
    lo[0] = 0xa0
    const hash = new Uint8Array(32).fill(9)
    const messages: Record<string, RangeRequest | RangeResponse> = {
      sum: { t: 'sum', id: 1, r: [{ lo, depth: 3 }, WHOLE] },
      'sum-digest': { t: 'sum', id: 2, r: [{ lo, depth: 3 }], x: hash },
      keys: { t: 'keys', id: 3, r: { lo, depth: 3 } },
      'keys-after': { t: 'keys', id: 4, r: { lo, depth: 3 }, a: new Uint8Array(32).fill(7) },
      same: { t: 'sums', id: 2, x: true },
      sums: { t: 'sums', id: 1, h: [hash, new Uint8Array(32)], n: [5, 0] },
      page: { t: 'keys', id: 3, k: [Uint8Array.from([0x12, 0x20, ...new Uint8Array(32).fill(1)])], m: false },
      error: { t: 'error', id: 5, m: 'no' }
    }
    for (const [name, message] of Object.entries(messages)) {
      const frame = Buffer.concat(encodeFrame(toWire(message)))
      assert.equal(frame.toString('hex'), fixture.frames[name], name)
      if (name === 'error') continue
      const body = decodeFrameBody(frame.subarray(1))
      const decoded = name.startsWith('sum-') || ['sum', 'keys', 'keys-after'].includes(name) ? decodeRequest(body, L) : decodeResponse(body, L)
      assert.deepEqual(toWire(decoded), toWire(message), name)
    }
  })

  it('rejects malformed and oversized messages with a ProtocolError', () => {
    const bad: Array<Record<string, unknown> & { t: string }> = [
      { t: 'sum', id: 1, r: [[new Uint8Array([0xff]), 3]] }, // bits past the depth
      { t: 'sum', id: 1, r: [[new Uint8Array(2), 3]] }, // a prefix longer than the depth
      { t: 'sum', id: 1, r: [[new Uint8Array(33), 257]] },
      { t: 'sum', id: 1, r: Array.from({ length: L.maxRanges + 1 }, () => [new Uint8Array(0), 0]) },
      { t: 'sum', id: 1, r: [], x: new Uint8Array(31) },
      { t: 'keys', id: 1, r: [new Uint8Array(0), 0], a: new Uint8Array(3) },
      { t: 'keys', id: 1 },
      { t: 'nope', id: 1 }
    ]
    for (const m of bad) assert.throws(() => decodeRequest(m, L), ProtocolError, JSON.stringify(Object.keys(m)))
    assert.throws(() => decodeResponse({ t: 'sums', id: 1, h: [new Uint8Array(32)], n: [] }, L), ProtocolError)
    assert.throws(() => decodeResponse({ t: 'keys', id: 1, k: [new Uint8Array(0)], m: false }, L), ProtocolError)
  })

  describe('between two nodes on 127.0.0.1', function () {
    this.timeout(30_000)
    let a: ShoalLibp2p
    let b: ShoalLibp2p
    const held = Array.from({ length: 2500 }, randomMultihash)
    const store = arrayStore(held)

    before(async () => {
      [a, b] = await connectedPair()
      await a.handle(RANGE_SYNC_PROTOCOL, rangeSyncHandler({ store }))
    })
    after(async () => { await Promise.all([a?.stop(), b?.stop()]) })

    it('answers "the same" to a digest that matches, summaries otherwise, and pages of keys in order', async () => {
      const session = new RangeSession(await b.dialProtocol(a.peerId, RANGE_SYNC_PROTOCOL), a.peerId)
      try {
        const ranges = [half(0), half(1)]
        const mine = await Promise.all(ranges.map(async r => await store.summary(r)))
        assert.equal(await session.summaries(ranges, summaryDigest(mine)), 'same')
        const other = await arrayStore(held.slice(1)).summary(WHOLE)
        const theirs = await session.summaries([WHOLE], summaryDigest([other]))
        assert.notEqual(theirs, 'same')
        assert.deepEqual(theirs, [await store.summary(WHOLE)])
        assert.equal((theirs as Array<{ count: number }>)[0].count, held.length)
        // every key, a page at a time
        const got: Uint8Array[] = []
        let after: Uint8Array | undefined
        let pages = 0
        while (true) {
          const page = await session.keys(WHOLE, after)
          pages++
          got.push(...page.keys)
          if (!page.more) break
          after = kadOf(page.keys[page.keys.length - 1])
        }
        assert.equal(pages, Math.ceil(held.length / L.maxKeys))
        assert.deepEqual(new Set(got.map(k => Buffer.from(k).toString('hex'))), new Set(held.map(k => Buffer.from(k).toString('hex'))))
        // an in-sync exchange costs the same few bytes whatever is held
        const before = session.traffic
        await session.summaries(ranges, summaryDigest(mine))
        const cost = session.traffic.read + session.traffic.written - before.read - before.written
        assert.ok(cost < 200, `${cost} bytes`)
      } finally {
        await session.close()
      }
    })
  })
})
