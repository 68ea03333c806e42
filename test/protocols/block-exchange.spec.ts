import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import type { PeerId } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { BlockNotFoundError, CorruptBlockError, ProtocolError, StreamClosedError } from '../../src/errors.ts'
import type { ShoalLibp2p } from '../../src/net/libp2p.ts'
import { BLOCK_PROTOCOL, blockExchangeHandler, BlockSession, decodeRequest, decodeResponse, DEFAULT_BLOCK_LIMITS, toWire } from '../../src/protocols/block-exchange.ts'
import type { BlockExchangeStore, BlockRequest, BlockResponse } from '../../src/protocols/block-exchange.ts'
import { decodeFrameBody, encodeFrame } from '../../src/protocols/codec.ts'
import { createLogger } from '../../src/platform/logger.ts'
import { connectedPair } from '../helpers/libp2p.ts'
import { FullStream, unhandledRejectionsDuring } from '../helpers/streams.ts'

async function rawBlock (bytes: Uint8Array): Promise<{ cid: CID, bytes: Uint8Array }> {
  return { cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes }
}

/** A map-backed store; `lie` makes get return other bytes (a hostile peer). */
function mapStore (opts: { lie?: boolean } = {}): BlockExchangeStore & { map: Map<string, Uint8Array>, from: string[] } {
  const map = new Map<string, Uint8Array>()
  const from: string[] = []
  return {
    map,
    from,
    has: async (cid) => map.has(cid.toString()),
    get: async (cid) => {
      const bytes = map.get(cid.toString())
      if (bytes == null) throw new BlockNotFoundError(cid.toString())
      return opts.lie === true ? randomBytes(bytes.length) : bytes
    },
    put: async (cid, bytes, { from: peer }) => {
      const { cid: actual } = await rawBlock(bytes)
      if (!actual.multihash.bytes.every((b, i) => b === cid.multihash.bytes[i])) throw new CorruptBlockError(cid.toString())
      map.set(cid.toString(), bytes)
      from.push(peer.toString())
    }
  }
}

describe('protocols: block exchange', () => {
  describe('wire format', () => {
    it('encodes every message type to the golden bytes, and decodes them back', async () => {
      const fixture = JSON.parse(await fs.readFile(new URL('../fixtures/protocols/block-exchange.json', import.meta.url), 'utf8'))
      const { cid, bytes } = await rawBlock(new TextEncoder().encode(fixture.block))
      assert.equal(cid.toString(), fixture.cid)
      const messages: Record<string, BlockRequest | BlockResponse> = {
        have: { t: 'have', id: 1, c: [cid] },
        get: { t: 'get', id: 2, c: [cid] },
        put: { t: 'put', id: 3, b: [[cid, bytes]] },
        has: { t: 'has', id: 1, h: [true] },
        block: { t: 'block', id: 2, i: 0, d: bytes },
        missing: { t: 'block', id: 2, i: 0 },
        ack: { t: 'ack', id: 3, s: [true] },
        error: { t: 'error', id: 4, m: 'no' }
      }
      for (const [name, message] of Object.entries(messages)) {
        const frame = Buffer.concat(encodeFrame(toWire(message)))
        assert.equal(frame.toString('hex'), fixture.frames[name], name)
        const body = decodeFrameBody(frame.subarray(1))
        const decoded = ['have', 'get', 'put'].includes(name) ? decodeRequest(body, DEFAULT_BLOCK_LIMITS) : decodeResponse(body, DEFAULT_BLOCK_LIMITS)
        assert.deepEqual(toWire(decoded), toWire(message), name)
      }
    })

    it('rejects malformed and oversized messages with a ProtocolError', () => {
      const bad: Array<Record<string, unknown> & { t: string }> = [
        { t: 'nope', id: 1 },
        { t: 'have', id: -1, c: [] },
        { t: 'have', id: 1, c: 'x' },
        { t: 'have', id: 1, c: [new Uint8Array([1, 2, 3])] },
        { t: 'get', id: 1, c: new Array(DEFAULT_BLOCK_LIMITS.maxGetCids + 1).fill(new Uint8Array(4)) },
        { t: 'put', id: 1, b: [[new Uint8Array(2)]] },
        { t: 'get', id: 2 ** 53, c: [] }
      ]
      for (const m of bad) assert.throws(() => decodeRequest(m, DEFAULT_BLOCK_LIMITS), ProtocolError, JSON.stringify(Object.keys(m)))
      assert.throws(() => decodeResponse({ t: 'block', id: 1, i: 0, d: new Uint8Array(DEFAULT_BLOCK_LIMITS.maxBlockBytes + 1) }, DEFAULT_BLOCK_LIMITS), /refused/)
      assert.throws(() => decodeFrameBody(new Uint8Array([0xff, 0x00])), ProtocolError)
      assert.throws(() => decodeFrameBody(new Uint8Array([0x01])), /expected a map/)
    })
  })

  describe('between two nodes on 127.0.0.1', function () {
    this.timeout(30_000)
    let a: ShoalLibp2p
    let b: ShoalLibp2p
    let store: ReturnType<typeof mapStore>
    const logs: string[] = []

    before(async () => {
      [a, b] = await connectedPair()
      store = mapStore()
      await a.handle(BLOCK_PROTOCOL, blockExchangeHandler({ store, logger: createLogger({ level: 'warn', write: (line) => { logs.push(line) } }) }), { maxInboundStreams: 8 })
    })
    after(async () => { await Promise.all([a?.stop(), b?.stop()]) })

    const open = async (peer: PeerId): Promise<BlockSession> => await BlockSession.open(async (p, proto, o) => await b.dialProtocol(p, proto, o), peer)

    it('puts, reports and gets blocks, many in flight on one stream', async () => {
      logs.length = 0
      const blocks = await Promise.all(Array.from({ length: 40 }, async (_, i) => await rawBlock(randomBytes(1000 + i * 5000))))
      const session = await open(a.peerId)
      try {
        assert.deepEqual(await session.have(blocks.map(x => x.cid)), blocks.map(() => false))
        const acks = await Promise.all([session.put(blocks.slice(0, 20)), session.put(blocks.slice(20))])
        assert.deepEqual(acks.flat(), blocks.map(() => true))
        assert.ok(store.from.every(p => p === b.peerId.toString()))
        assert.deepEqual(await session.have(blocks.map(x => x.cid)), blocks.map(() => true))
        const got = await Promise.all([session.get(blocks.slice(0, 30).map(x => x.cid)), session.get(blocks.slice(30).map(x => x.cid))])
        assert.deepEqual(got.flat().map(g => Buffer.from(g.bytes ?? []).toString('hex')), blocks.map(x => Buffer.from(x.bytes).toString('hex')))
      } finally {
        await session.close()
      }
      assert.deepEqual(logs, [], 'a clean close is not an error')
    })

    it('frees a large PUT\'s frame once acknowledged when the store keeps no bytes, and never a small one', async () => {
      // a store that copies what it is given (as the disk stores do), and says so
      const copies = new Map<string, Uint8Array>()
      const given: Uint8Array[] = []
      await b.handle(BLOCK_PROTOCOL, blockExchangeHandler({
        store: {
          keepsNoBytes: true,
          has: async (cid) => copies.has(cid.toString()),
          get: async (cid) => copies.get(cid.toString()) ?? await Promise.reject(new BlockNotFoundError(cid.toString())),
          put: async (cid, bytes) => {
            given.push(bytes)
            copies.set(cid.toString(), Uint8Array.from(bytes))
          }
        }
      }), { maxInboundStreams: 8 })
      const session = await BlockSession.open(async (p, proto, o) => await a.dialProtocol(p, proto, o), b.peerId)
      try {
        const large = await Promise.all(Array.from({ length: 3 }, async () => await rawBlock(randomBytes(100_000))))
        assert.deepEqual(await session.put(large), [true, true, true])
        assert.equal(given.length, 3)
        assert.deepEqual(given.map(v => v.byteLength), [0, 0, 0], 'the frame the blocks were read from is freed')
        const small = [await rawBlock(randomBytes(1000))]
        assert.deepEqual(await session.put(small), [true])
        assert.equal(given[3].byteLength, 1000, 'a small frame may share a pooled buffer: left to the GC')
        assert.deepEqual(Buffer.from(given[3]), Buffer.from(small[0].bytes))
        // what was stored is intact, and so are the CIDs the store was given
        const got = await session.get([...large, ...small].map(x => x.cid))
        assert.deepEqual(got.map(g => Buffer.from(g.bytes ?? []).toString('hex')), [...large, ...small].map(x => Buffer.from(x.bytes).toString('hex')))
      } finally {
        await session.close()
        await b.unhandle(BLOCK_PROTOCOL)
      }
    })

    it('answers missing blocks as missing, and refuses a PUT whose bytes do not match', async () => {
      const missing = await rawBlock(randomBytes(100))
      const other = await rawBlock(randomBytes(100))
      const session = await open(a.peerId)
      try {
        assert.deepEqual(await session.get([missing.cid]), [{ cid: missing.cid, bytes: undefined }])
        assert.deepEqual(await session.put([{ cid: missing.cid, bytes: other.bytes }]), [false])
        assert.equal(store.map.has(missing.cid.toString()), false)
      } finally {
        await session.close()
      }
    })

    it('detects a peer that serves wrong bytes for a CID', async () => {
      const liar = mapStore({ lie: true })
      const block = await rawBlock(randomBytes(5000))
      liar.map.set(block.cid.toString(), block.bytes)
      await b.handle('/test/liar', blockExchangeHandler({ store: liar }))
      const session = await BlockSession.open(async (p, _proto, o) => await a.dialProtocol(p, '/test/liar', o), b.peerId)
      try {
        await assert.rejects(session.get([block.cid]), (err: Error) => err instanceof CorruptBlockError && err.message.includes(b.peerId.toString()))
      } finally {
        await session.close()
        await b.unhandle('/test/liar')
      }
    })

    it('a stream that closes while requests wait for it to drain fails them with a StreamClosedError, and leaves nothing unhandled', async () => {
      const stream = new FullStream(BLOCK_PROTOCOL)
      const session = new BlockSession(stream.stream, a.peerId)
      const block = await rawBlock(randomBytes(1000))
      const unhandled = await unhandledRejectionsDuring(async () => {
        const requests = [session.put([block]), session.get([block.cid]), session.have([block.cid])]
        await new Promise(resolve => setTimeout(resolve, 20))
        stream.reset()
        for (const request of requests) await assert.rejects(request, StreamClosedError)
      })
      assert.deepEqual(unhandled, [])
    })

    it('cuts a stream that sends garbage, and keeps serving others', async () => {
      const stream = await b.dialProtocol(a.peerId, BLOCK_PROTOCOL)
      stream.send(new Uint8Array([0x05, 0xff, 0xff, 0xff, 0xff, 0xff]))
      const closed = await new Promise<string>(resolve => {
        stream.addEventListener('close', (evt) => { resolve((evt as unknown as { error?: Error }).error?.message ?? 'closed') }, { once: true })
      })
      assert.ok(closed.length > 0)
      const oversized = await b.dialProtocol(a.peerId, BLOCK_PROTOCOL)
      // a length prefix far above the frame limit is refused before anything is read
      oversized.send(new Uint8Array([0xff, 0xff, 0xff, 0x7f]))
      await new Promise<void>(resolve => { oversized.addEventListener('close', () => { resolve() }, { once: true }) })
      assert.ok(logs.some(l => l.includes('Malformed frame') && l.includes(b.peerId.toString())), logs.join(''))
      assert.ok(logs.some(l => l.includes('Frame of 268435455 bytes refused')), logs.join(''))
      const block = await rawBlock(randomBytes(10))
      const session = await open(a.peerId)
      try {
        assert.deepEqual(await session.put([block]), [true])
      } finally {
        await session.close()
      }
    })
  })
})
