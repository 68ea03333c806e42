/**
 * The life of pooled sessions between two real libp2p nodes: who ends an
 * idle stream, how the other side notices, the one transparent retry on a
 * new stream, and the abort rule (an abort rejects only its caller).
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { PeerId, Stream } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { AbortedError, BlockNotFoundError, StreamClosedError } from '../../src/errors.ts'
import type { ShoalLibp2p } from '../../src/net/libp2p.ts'
import { createLogger } from '../../src/platform/logger.ts'
import { blockExchangeHandler, BlockSession } from '../../src/protocols/block-exchange.ts'
import type { BlockExchangeLimits, BlockExchangeStore } from '../../src/protocols/block-exchange.ts'
import { FramedStream } from '../../src/protocols/codec.ts'
import { SessionPool } from '../../src/protocols/session-pool.ts'
import type { PooledSession } from '../../src/protocols/session-pool.ts'
import { connectedPair } from '../helpers/libp2p.ts'
import { unhandledRejectionsDuring } from '../helpers/streams.ts'
import { waitFor } from '../helpers/tmp.ts'

async function rawBlock (bytes: Uint8Array): Promise<{ cid: CID, bytes: Uint8Array }> {
  return { cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes }
}

/** A map-backed block store; GETs of `slow` blocks take 300 ms. */
function mapStore (): BlockExchangeStore & { map: Map<string, Uint8Array>, slow: Set<string> } {
  const map = new Map<string, Uint8Array>()
  const slow = new Set<string>()
  return {
    map,
    slow,
    has: async (cid) => map.has(cid.toString()),
    get: async (cid) => {
      if (slow.has(cid.toString())) await new Promise(resolve => setTimeout(resolve, 300))
      const bytes = map.get(cid.toString())
      if (bytes == null) throw new BlockNotFoundError(cid.toString())
      return bytes
    },
    put: async (cid, bytes) => { map.set(cid.toString(), bytes) }
  }
}

describe('protocols: pooled sessions', function () {
  this.timeout(30_000)
  let a: ShoalLibp2p
  let b: ShoalLibp2p
  let store: ReturnType<typeof mapStore>
  const logs: string[] = []
  /** inbound streams per test protocol, as the server saw them */
  const served = new Map<string, number>()
  let block: { cid: CID, bytes: Uint8Array }

  before(async () => {
    [a, b] = await connectedPair()
    store = mapStore()
    block = await rawBlock(randomBytes(2000))
    store.map.set(block.cid.toString(), block.bytes)
  })
  after(async () => { await Promise.all([a?.stop(), b?.stop()]) })
  beforeEach(() => { logs.length = 0 })

  /** Serve the block protocol on `protocol` on a, with the server limits given, counting its streams. */
  async function serve (protocol: string, limits: Partial<BlockExchangeLimits>): Promise<void> {
    const handler = blockExchangeHandler({ store, limits, logger: createLogger({ level: 'debug', write: (line) => { logs.push(line) } }) })
    await a.handle(protocol, async (stream, connection) => {
      served.set(protocol, (served.get(protocol) ?? 0) + 1)
      await handler(stream, connection)
    })
  }

  /** A pool on b of block sessions to a on `protocol`, with the client limits given. */
  function pool (protocol: string, limits: Partial<BlockExchangeLimits> = {}): SessionPool<BlockSession> {
    return new SessionPool({ open: async (peer, { signal }) => new BlockSession(await b.dialProtocol(peer, protocol, { signal }), peer, limits) })
  }

  const warnings = (): string[] => logs.filter(l => !l.includes(' DEBUG '))

  it('a stream the server closed for idleness is noticed without a write, dropped, and the next call opens a new one', async () => {
    await serve('/test/idle-server', { idleTimeoutMs: 300 })
    // the client would keep its stream for a minute: the server ends it first
    const sessions = pool('/test/idle-server', { idleCloseMs: 60_000 })
    try {
      const first = await sessions.get(a.peerId)
      assert.deepEqual(await sessions.call(a.peerId, async s => await s.have([block.cid])), [true])
      await waitFor(() => first.closed, 'the client to notice the end of its idle stream', 5000, 20)
      assert.deepEqual(await sessions.call(a.peerId, async s => await s.have([block.cid])), [true])
      assert.notEqual(await sessions.get(a.peerId), first)
      assert.equal(served.get('/test/idle-server'), 2)
      assert.deepEqual(warnings(), [], 'an idle stream closing is not a warning')
      assert.ok(logs.some(l => l.includes('idled out')), logs.join(''))
    } finally {
      await sessions.closeAll()
      await a.unhandle('/test/idle-server')
    }
  })

  it('a client closes its idle streams before the server would, and the server sees a clean end', async () => {
    await serve('/test/idle-client', { idleTimeoutMs: 10_000 })
    const sessions = pool('/test/idle-client', { idleCloseMs: 200 })
    try {
      const first = await sessions.get(a.peerId)
      assert.deepEqual(await sessions.call(a.peerId, async s => await s.have([block.cid])), [true])
      await waitFor(() => first.closed, 'the client to close its idle stream', 5000, 20)
      assert.deepEqual(await sessions.call(a.peerId, async s => await s.have([block.cid])), [true])
      assert.equal(served.get('/test/idle-client'), 2)
      assert.deepEqual(logs, [], 'the server logged nothing: the client ended the stream cleanly')
    } finally {
      await sessions.closeAll()
      await a.unhandle('/test/idle-client')
    }
  })

  it('a call that fails because its stream ended is made once more on a new stream; a second failure is reported', async () => {
    // a server whose streams break after reading the first request: the first `resets` streams, then it serves
    let resets = 1
    let opened = 0
    const good = blockExchangeHandler({ store })
    await a.handle('/test/flaky', async (stream: Stream, connection) => {
      opened++
      if (resets-- <= 0) {
        await good(stream, connection)
        return
      }
      await new FramedStream(stream, { maxFrameBytes: 1 << 20, maxBufferBytes: 1 << 20 }).read()
      stream.abort(new Error('gone'))
    })
    const sessions = pool('/test/flaky')
    try {
      assert.deepEqual(await sessions.call(a.peerId, async s => await s.have([block.cid])), [true], 'retried once, transparently')
      assert.equal(opened, 2)

      opened = 0
      resets = 10
      await sessions.closeAll()
      const again = pool('/test/flaky')
      await assert.rejects(again.call(a.peerId, async s => await s.have([block.cid])), StreamClosedError)
      assert.equal(opened, 2, 'one retry, not more')
      await again.closeAll()
    } finally {
      await a.unhandle('/test/flaky')
    }
  })

  it('an abort rejects only its caller: the other requests on the same stream are answered', async () => {
    await serve('/test/abort', {})
    const slow = await rawBlock(randomBytes(3000))
    store.map.set(slow.cid.toString(), slow.bytes)
    store.slow.add(slow.cid.toString())
    const sessions = pool('/test/abort')
    try {
      const session = await sessions.get(a.peerId)
      const controller = new AbortController()
      const aborted = session.get([slow.cid], { signal: controller.signal })
      const others = Promise.all([session.get([slow.cid]), session.have([block.cid, slow.cid]), session.get([block.cid])])
      setTimeout(() => { controller.abort() }, 50)
      await assert.rejects(aborted, AbortedError)
      const [got, has, fast] = await others
      assert.deepEqual(Buffer.from(got[0].bytes ?? []), Buffer.from(slow.bytes))
      assert.deepEqual(has, [true, true])
      assert.deepEqual(Buffer.from(fast[0].bytes ?? []), Buffer.from(block.bytes))
      assert.equal(session.closed, false)
      assert.equal(await sessions.get(a.peerId), session, 'the same stream serves on')
    } finally {
      await sessions.closeAll()
      await a.unhandle('/test/abort')
    }
  })
})

describe('protocols: SessionPool (fake sessions)', () => {
  const peer = { toString: () => 'peer-1' } as unknown as PeerId
  const fake = (): PooledSession & { closed: boolean } => ({ closed: false, close: async function () { this.closed = true } })

  it('a second stream that fails to open while nobody waits for it leaves nothing unhandled', async () => {
    let opens = 0
    const sessions = new SessionPool<PooledSession>({
      streamsPerPeer: 2,
      open: async () => {
        if (++opens === 1) return fake()
        await new Promise(resolve => setTimeout(resolve, 10))
        throw new Error('dial failed')
      }
    })
    const unhandled = await unhandledRejectionsDuring(async () => {
      const first = await sessions.get(peer)
      // the pool has one stream and opens a second in the background; this caller takes the first
      assert.equal(await sessions.get(peer), first)
      await new Promise(resolve => setTimeout(resolve, 50))
    })
    assert.deepEqual(unhandled, [])
    assert.equal(opens, 2)
    await sessions.closeAll()
  })

  it('a caller that gives up does not abort the open others wait for', async () => {
    let openSignal: AbortSignal | undefined
    const sessions = new SessionPool<PooledSession>({
      open: async (_peer, { signal }) => {
        openSignal = signal
        await new Promise(resolve => setTimeout(resolve, 200))
        return fake()
      }
    })
    const impatient = sessions.get(peer, { signal: AbortSignal.timeout(30) })
    const patient = sessions.get(peer)
    await assert.rejects(impatient, AbortedError)
    const session = await patient
    assert.equal(session.closed, false)
    assert.equal(openSignal?.aborted, false)
    await sessions.closeAll()
    assert.equal(session.closed, true)
  })

  it('after closeAll nothing new is opened, and an open in progress is closed when it lands', async () => {
    const opened: Array<PooledSession & { closed: boolean }> = []
    const sessions = new SessionPool<PooledSession>({
      open: async () => {
        await new Promise(resolve => setTimeout(resolve, 50))
        const s = fake()
        opened.push(s)
        return s
      }
    })
    const pending = sessions.get(peer)
    await sessions.closeAll()
    await assert.rejects(pending, AbortedError)
    assert.equal(opened.length, 1)
    assert.equal(opened[0].closed, true)
    await assert.rejects(sessions.get(peer), AbortedError)
  })
})
