import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import type { PeerId } from '@libp2p/interface'
import { AbortedError, InvalidSignatureError, PeerRefusedError, ProtocolError, StreamClosedError, TimeoutError } from '../../src/errors.ts'
import type { ShoalLibp2p } from '../../src/net/libp2p.ts'
import { createLogger } from '../../src/platform/logger.ts'
import { decodeFrameBody, encodeFrame } from '../../src/protocols/codec.ts'
import {
  DEFAULT_NAME_SYNC_LIMITS, decodeRequest, decodeResponse, NAME_SYNC_PROTOCOL, NameSession, nameSyncHandler, recordHash, toWire
} from '../../src/protocols/name-sync.ts'
import type { NameRequest, NameResponse, NameSyncStore } from '../../src/protocols/name-sync.ts'
import { connectedPair } from '../helpers/libp2p.ts'
import { FullStream, unhandledRejectionsDuring } from '../helpers/streams.ts'

const FIXTURE = new URL('../fixtures/protocols/name-sync.json', import.meta.url)
const RECORD = new URL('../fixtures/names/record-v1.cbor', import.meta.url)
const KEY = '/photos/cat.jpg'

/** The messages of the golden fixture, built around the names record fixture. */
function messages (record: Uint8Array): Record<string, NameRequest | NameResponse> {
  const hash = recordHash(record)
  return {
    put: { t: 'put', id: 1, r: record },
    get: { t: 'get', id: 2, k: KEY },
    sync: { t: 'sync', id: 3, d: [[KEY, hash], ['/a', new Uint8Array(32).fill(7)]] },
    list: { t: 'list', id: 4, p: '/photos' },
    'list-after': { t: 'list', id: 5, p: '/', a: KEY },
    ok: { t: 'ok', id: 1, h: hash },
    'ok-record': { t: 'ok', id: 1, h: new Uint8Array(32).fill(9), r: record },
    rec: { t: 'rec', id: 2, r: record },
    'rec-none': { t: 'rec', id: 2 },
    hashes: { t: 'hashes', id: 3, h: [hash, new Uint8Array()] },
    recs: { t: 'recs', id: 4, r: [record], m: false },
    error: { t: 'error', id: 1, m: 'bad signature', c: 'ERR_INVALID_SIGNATURE' }
  }
}

const REQUESTS = new Set(['put', 'get', 'sync', 'list', 'list-after'])

/** A map of key -> record bytes; `refuse` makes put throw like a store that finds a forged signature. */
function mapStore (): NameSyncStore & { map: Map<string, Uint8Array>, from: string[], refuse: Set<string> } {
  const map = new Map<string, Uint8Array>()
  const from: string[] = []
  const refuse = new Set<string>()
  const keyOf = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8')
  return {
    map,
    from,
    refuse,
    // in this stub a "record" is just its key's bytes
    put: async (bytes, o) => {
      from.push(o.from.toString())
      const key = keyOf(bytes)
      if (refuse.has(key)) throw new InvalidSignatureError(`Invalid signature on name "${key}": forged`)
      const held = map.get(key) ?? bytes
      map.set(key, held)
      return { hash: recordHash(held), record: held }
    },
    get: async (key) => {
      if (key.startsWith('/slow')) await new Promise(resolve => setTimeout(resolve, 300))
      return map.get(key)
    },
    hashes: async (entries) => entries.map(([key]) => { const r = map.get(key); return r == null ? undefined : recordHash(r) }),
    list: async (prefix, after, { maxRecords }) => {
      const keys = [...map.keys()].filter(k => k.startsWith(prefix) && (after == null || k > after)).sort()
      return { records: keys.slice(0, maxRecords).map(k => map.get(k) as Uint8Array), more: keys.length > maxRecords }
    }
  }
}

describe('protocols: name sync', () => {
  describe('wire format', () => {
    it('encodes every message type to the golden bytes, and decodes them back', async () => {
      const record = new Uint8Array(await fs.readFile(RECORD))
      const built = messages(record)
      const frames = Object.fromEntries(Object.entries(built).map(([name, m]) => [name, Buffer.concat(encodeFrame(toWire(m))).toString('hex')]))
      if (process.env.SHOAL_UPDATE_FIXTURES === '1') {
        await fs.writeFile(FIXTURE, JSON.stringify({ protocol: NAME_SYNC_PROTOCOL, record: 'test/fixtures/names/record-v1.cbor', frames }, null, 2) + '\n')
      }
      const fixture = JSON.parse(await fs.readFile(FIXTURE, 'utf8'))
      assert.equal(fixture.protocol, NAME_SYNC_PROTOCOL)
      assert.deepEqual(Object.keys(fixture.frames).sort(), Object.keys(built).sort())
      for (const [name, message] of Object.entries(built)) {
        assert.equal(frames[name], fixture.frames[name], name)
        const bytes = Buffer.from(fixture.frames[name], 'hex')
        // skip the varint length prefix
        let i = 0
        while ((bytes[i] & 0x80) !== 0) i++
        const body = decodeFrameBody(bytes.subarray(i + 1))
        const decoded = REQUESTS.has(name) ? decodeRequest(body, DEFAULT_NAME_SYNC_LIMITS) : decodeResponse(body, DEFAULT_NAME_SYNC_LIMITS)
        assert.deepEqual(toWire(decoded), toWire(message), name)
      }
    })

    it('rejects malformed and oversized messages with a ProtocolError', () => {
      const L = DEFAULT_NAME_SYNC_LIMITS
      const badRequests: Array<Record<string, unknown> & { t: string }> = [
        { t: 'nope', id: 1 },
        { t: 'put', id: -1, r: new Uint8Array(1) },
        { t: 'put', id: 1, r: new Uint8Array() },
        { t: 'put', id: 1, r: new Uint8Array(L.maxRecordBytes + 1) },
        { t: 'put', id: 1, r: 'x' },
        { t: 'get', id: 1, k: 'x'.repeat(L.maxKeyBytes + 1) },
        { t: 'get', id: 1, k: '\ud800' },
        { t: 'sync', id: 1, d: [['/a', new Uint8Array(31)]] },
        { t: 'sync', id: 1, d: new Array(L.maxSyncKeys + 1).fill(['/a', new Uint8Array(32)]) },
        { t: 'list', id: 1 },
        { t: 'list', id: 1, p: '/', a: 5 },
        { t: 'get', id: 2 ** 53, k: '/a' }
      ]
      for (const m of badRequests) assert.throws(() => decodeRequest(m, L), ProtocolError, JSON.stringify(Object.keys(m)))
      const badResponses: Array<Record<string, unknown> & { t: string }> = [
        { t: 'ok', id: 1, h: new Uint8Array(31) },
        { t: 'hashes', id: 1, h: [new Uint8Array(5)] },
        { t: 'recs', id: 1, r: [new Uint8Array(2)] },
        { t: 'recs', id: 1, r: new Array(L.maxListRecords + 1).fill(new Uint8Array(2)), m: false },
        { t: 'error', id: 1, m: 'x'.repeat(2000) },
        { t: 'what', id: 1 }
      ]
      for (const m of badResponses) assert.throws(() => decodeResponse(m, L), ProtocolError, JSON.stringify(m).slice(0, 80))
    })
  })

  describe('between two nodes on 127.0.0.1', function () {
    this.timeout(30_000)
    let a: ShoalLibp2p
    let b: ShoalLibp2p
    let store: ReturnType<typeof mapStore>
    const logs: string[] = []
    const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

    before(async () => {
      [a, b] = await connectedPair()
      store = mapStore()
      await a.handle(NAME_SYNC_PROTOCOL, nameSyncHandler({ store, logger: createLogger({ level: 'warn', write: (line) => { logs.push(line) } }) }))
    })
    after(async () => { await Promise.all([a?.stop(), b?.stop()]) })

    const open = async (peer: PeerId, protocol = NAME_SYNC_PROTOCOL, limits = {}): Promise<NameSession> =>
      await NameSession.open(async (p, _proto, o) => await b.dialProtocol(p, protocol, o), peer, { limits })

    it('a stream that closes while requests wait for it to drain fails them with a StreamClosedError, and leaves nothing unhandled', async () => {
      const stream = new FullStream(NAME_SYNC_PROTOCOL)
      const session = new NameSession(stream.stream, a.peerId)
      const unhandled = await unhandledRejectionsDuring(async () => {
        const requests = [session.put(utf8('/k/x')), session.get('/k/x'), session.list('/k/')]
        await new Promise(resolve => setTimeout(resolve, 20))
        stream.reset()
        for (const request of requests) await assert.rejects(request, StreamClosedError)
      })
      assert.deepEqual(unhandled, [])
    })

    it('puts, gets, compares digests and lists, many requests in flight on one stream', async () => {
      logs.length = 0
      const session = await open(a.peerId)
      try {
        const keys = Array.from({ length: 30 }, (_, i) => `/k/${String(i).padStart(2, '0')}`)
        const acks = await Promise.all(keys.map(async k => await session.put(utf8(k))))
        for (const [i, ack] of acks.entries()) {
          assert.deepEqual(ack.hash, recordHash(utf8(keys[i])))
          assert.equal(ack.record, undefined, 'no record back when the peer holds what was sent')
        }
        assert.ok(store.from.every(p => p === b.peerId.toString()))
        assert.deepEqual(await session.get('/k/03'), utf8('/k/03'))
        assert.equal(await session.get('/nothing'), undefined)
        const hashes = await session.sync([['/k/01', recordHash(utf8('/k/01'))], ['/nope', new Uint8Array(32)]])
        assert.deepEqual(hashes, [recordHash(utf8('/k/01')), undefined])
        const page = await session.list('/k/', '/k/27')
        assert.deepEqual(page.records.map(r => Buffer.from(r).toString()), ['/k/28', '/k/29'])
        assert.equal(page.more, false)
      } finally {
        await session.close()
      }
      assert.deepEqual(logs, [], 'a clean close is not an error')
    })

    it('answers a PUT with the record it holds when that differs from the one sent', async () => {
      const session = await open(a.peerId)
      try {
        store.map.set('/diff', utf8('/diff-newer'))
        const ack = await session.put(utf8('/diff'))
        assert.deepEqual(ack.hash, recordHash(utf8('/diff-newer')))
        assert.deepEqual(ack.record, utf8('/diff-newer'))
      } finally {
        await session.close()
      }
    })

    it('refuses a record the store rejects, logs it with the peer id, and keeps serving the stream', async () => {
      logs.length = 0
      store.refuse.add('/forged')
      const session = await open(a.peerId)
      try {
        await assert.rejects(session.put(utf8('/forged')), (err: Error) => err instanceof PeerRefusedError && /refused the name put: Invalid signature/.test(err.message) && err.message.includes('ERR_INVALID_SIGNATURE'))
        assert.equal(session.closed, false)
        assert.deepEqual((await session.put(utf8('/after'))).hash, recordHash(utf8('/after')))
      } finally {
        await session.close()
      }
      assert.ok(logs.some(l => l.includes('rejected a name record from peer') && l.includes(b.peerId.toString()) && l.includes('forged')), logs.join(''))
    })

    it('cuts a stream that sends garbage, and keeps serving others', async () => {
      logs.length = 0
      const stream = await b.dialProtocol(a.peerId, NAME_SYNC_PROTOCOL)
      stream.send(new Uint8Array([0x05, 0xff, 0xff, 0xff, 0xff, 0xff]))
      await new Promise<void>(resolve => { stream.addEventListener('close', () => { resolve() }, { once: true }) })
      const oversized = await b.dialProtocol(a.peerId, NAME_SYNC_PROTOCOL)
      oversized.send(new Uint8Array([0xff, 0xff, 0xff, 0x7f]))
      await new Promise<void>(resolve => { oversized.addEventListener('close', () => { resolve() }, { once: true }) })
      assert.ok(logs.some(l => l.includes('Malformed frame') && l.includes(b.peerId.toString())), logs.join(''))
      assert.ok(logs.some(l => l.includes('Frame of 268435455 bytes refused')), logs.join(''))
      const session = await open(a.peerId)
      try {
        assert.deepEqual(await session.get('/k/00'), utf8('/k/00'))
      } finally {
        await session.close()
      }
    })

    it('a call whose signal aborts fails at once; the session goes on and matches the next answers', async () => {
      const session = await open(a.peerId)
      try {
        store.map.set('/slow', utf8('/slow'))
        await assert.rejects(session.get('/slow', { signal: AbortSignal.timeout(50) }), AbortedError)
        assert.equal(session.closed, false)
        const [slow, fast] = await Promise.all([session.get('/slow'), session.get('/k/00')])
        assert.deepEqual([slow, fast], [utf8('/slow'), utf8('/k/00')])
      } finally {
        await session.close()
      }
    })

    it('a request that is not answered in time fails with a TimeoutError and closes the session', async () => {
      // a peer that reads and never answers
      await a.handle('/test/names-silent', async (stream) => {
        for await (const chunk of stream) void chunk
      })
      const session = await open(a.peerId, '/test/names-silent', { requestTimeoutMs: 200 })
      const started = Date.now()
      await assert.rejects(session.get('/x'), (err: Error) => err instanceof TimeoutError && err.message.includes(a.peerId.toString()))
      assert.ok(Date.now() - started < 5000)
      assert.equal(session.closed, true)
      await a.unhandle('/test/names-silent')
    })
  })
})
