/**
 * `/shoal/block/1.0.0`: batched HAVE / GET / PUT of blocks between two peers
 * over one stream of frames (see codec.ts). The client pipelines requests;
 * the server answers each in order:
 *
 *   {t:'have', id, c:[cid...]}          -> {t:'has', id, h:[bool...]}
 *   {t:'get',  id, c:[cid...]}          -> one {t:'block', id, i, d?} per cid, in order (no d: missing)
 *   {t:'put',  id, b:[[cid, bytes]...]} -> {t:'ack', id, s:[bool...]} (false: refused, e.g. bad bytes)
 *   any request the server cannot serve -> {t:'error', id, m}
 *
 * Every block is verified against its CID by whoever receives it: the server
 * before storing a PUT, the client before handing on a GET answer.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import { verifyBlock } from '../content/blocks.ts'
import { AbortedError, CorruptBlockError, ProtocolError } from '../errors.ts'
import { silentLogger } from '../platform/logger.ts'
import type { Logger } from '../platform/logger.ts'
import { field, FramedStream, isArrayOf, isBytes, isUint, pipelinedHandler } from './codec.ts'
import type { FrameLimits } from './codec.ts'

export const BLOCK_PROTOCOL = '/shoal/block/1.0.0'

export interface BlockExchangeLimits extends FrameLimits {
  /** largest block accepted (bitswap's is 2 MiB) */
  maxBlockBytes: number
  /** most CIDs in one HAVE */
  maxHaveCids: number
  /** most CIDs in one GET */
  maxGetCids: number
  /** a stream with no frame for this long is closed */
  idleTimeoutMs: number
  /** concurrent streams of this protocol per connection, each way */
  maxStreamsPerConnection: number
}

export const DEFAULT_BLOCK_LIMITS: BlockExchangeLimits = {
  maxFrameBytes: 4 * 1024 * 1024 + 1024,
  maxBufferBytes: 64 * 1024 * 1024,
  maxBlockBytes: 2 * 1024 * 1024,
  maxHaveCids: 1024,
  maxGetCids: 64,
  idleTimeoutMs: 30_000,
  maxStreamsPerConnection: 8
}

/** What the server needs from the node's storage. */
export interface BlockExchangeStore {
  has(cid: CID, options?: { signal?: AbortSignal }): Promise<boolean>
  /** verified bytes, or throws (missing or corrupt: answered as missing) */
  get(cid: CID, options?: { signal?: AbortSignal }): Promise<Uint8Array>
  /** verifies, stores; `from` is the peer that pushed it */
  put(cid: CID, bytes: Uint8Array, options: { signal?: AbortSignal, from: PeerId }): Promise<void>
  /**
   * Optional batch form of `put` (one PUT request's blocks): true for each
   * block verified and stored. Used instead of `put` when present.
   */
  putMany?(blocks: Array<[CID, Uint8Array]>, options: { signal?: AbortSignal, from: PeerId }): Promise<boolean[]>
  /** makes the puts so far durable; called before a PUT is acknowledged */
  sync?(): Promise<void>
}

// ---- messages ----

export type BlockRequest =
  | { t: 'have', id: number, c: CID[] }
  | { t: 'get', id: number, c: CID[] }
  | { t: 'put', id: number, b: Array<[CID, Uint8Array]> }

export type BlockResponse =
  | { t: 'has', id: number, h: boolean[] }
  | { t: 'block', id: number, i: number, d?: Uint8Array }
  | { t: 'ack', id: number, s: boolean[] }
  | { t: 'error', id: number, m: string }

/** The wire form of a message (CIDs as bytes), ready for the codec. */
export function toWire (message: BlockRequest | BlockResponse): object {
  switch (message.t) {
    case 'have':
    case 'get':
      return { t: message.t, id: message.id, c: message.c.map(c => c.bytes) }
    case 'put':
      return { t: 'put', id: message.id, b: message.b.map(([cid, bytes]) => [cid.bytes, bytes]) }
    default:
      return message
  }
}

function decodeCid (bytes: Uint8Array): CID {
  try {
    return CID.decode(bytes)
  } catch (err) {
    throw new ProtocolError(`Malformed CID: ${(err as Error).message}`)
  }
}

const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean'

export function decodeRequest (message: Record<string, unknown> & { t: string }, limits: BlockExchangeLimits): BlockRequest {
  const id = field(message, 'id', isUint, 'a non-negative integer')
  switch (message.t) {
    case 'have':
      return { t: 'have', id, c: field(message, 'c', isArrayOf(isBytes, limits.maxHaveCids), `a list of at most ${limits.maxHaveCids} CIDs`).map(decodeCid) }
    case 'get':
      return { t: 'get', id, c: field(message, 'c', isArrayOf(isBytes, limits.maxGetCids), `a list of at most ${limits.maxGetCids} CIDs`).map(decodeCid) }
    case 'put': {
      const isPair = (v: unknown): v is [Uint8Array, Uint8Array] => Array.isArray(v) && v.length === 2 && isBytes(v[0]) && isBytes(v[1])
      const pairs = field(message, 'b', isArrayOf(isPair, limits.maxGetCids), `a list of at most ${limits.maxGetCids} [cid, bytes] pairs`)
      return {
        t: 'put',
        id,
        b: pairs.map(([cid, bytes]) => {
          if (bytes.byteLength > limits.maxBlockBytes) throw new ProtocolError(`Block of ${bytes.byteLength} bytes refused: the limit is ${limits.maxBlockBytes}`)
          return [decodeCid(cid), bytes]
        })
      }
    }
    default:
      throw new ProtocolError(`Unknown request type "${message.t}"`)
  }
}

export function decodeResponse (message: Record<string, unknown> & { t: string }, limits: BlockExchangeLimits): BlockResponse {
  const id = field(message, 'id', isUint, 'a non-negative integer')
  switch (message.t) {
    case 'has':
      return { t: 'has', id, h: field(message, 'h', isArrayOf(isBoolean, limits.maxHaveCids), 'a list of booleans') }
    case 'block': {
      const i = field(message, 'i', isUint, 'a non-negative integer')
      if (message.d === undefined) return { t: 'block', id, i }
      const d = field(message, 'd', isBytes, 'bytes')
      if (d.byteLength > limits.maxBlockBytes) throw new ProtocolError(`Block of ${d.byteLength} bytes refused: the limit is ${limits.maxBlockBytes}`)
      return { t: 'block', id, i, d }
    }
    case 'ack':
      return { t: 'ack', id, s: field(message, 's', isArrayOf(isBoolean, limits.maxGetCids), 'a list of booleans') }
    case 'error':
      return { t: 'error', id, m: field(message, 'm', (v): v is string => typeof v === 'string' && v.length <= 1024, 'a short string') }
    default:
      throw new ProtocolError(`Unknown response type "${message.t}"`)
  }
}

// ---- server ----

export interface BlockExchangeServerInit {
  store: BlockExchangeStore
  limits?: Partial<BlockExchangeLimits>
  logger?: Logger
}

/**
 * Serves one inbound stream until the peer closes it, idles out, or breaks
 * the protocol. Requests are worked on as they arrive (store reads and
 * writes overlap, at most `maxGetCids` blocks at a time) and answered in
 * order.
 */
export function blockExchangeHandler (init: BlockExchangeServerInit): (stream: Stream, connection: Connection) => Promise<void> {
  const limits = { ...DEFAULT_BLOCK_LIMITS, ...init.limits }
  return pipelinedHandler('block exchange', limits, init.logger ?? silentLogger, (peer) => ({
    idleTimeoutMs: limits.idleTimeoutMs,
    decode: (frame) => decodeRequest(frame, limits),
    answer: async (request) => await answer(request, init.store, peer),
    weight: (request) => request.t === 'put' ? request.b.length : request.c.length,
    // at most maxGetCids blocks read or written at a time
    maxWeight: limits.maxGetCids
  }))
}

/** The answer frames to one request (store work starts at once). */
async function answer (request: BlockRequest, store: BlockExchangeStore, from: PeerId): Promise<object[]> {
  switch (request.t) {
    case 'have': {
      const h = await Promise.all(request.c.map(async cid => await store.has(cid).catch(() => false)))
      return [{ t: 'has', id: request.id, h }]
    }
    case 'get': {
      const found = await Promise.all(request.c.map(async cid => await store.get(cid).catch(() => undefined)))
      return found.map((d, i) => d == null ? { t: 'block', id: request.id, i } : { t: 'block', id: request.id, i, d })
    }
    case 'put': {
      const s = store.putMany != null
        ? await store.putMany(request.b, { from })
        : await Promise.all(request.b.map(async ([cid, bytes]) => {
          try {
            await store.put(cid, bytes, { from })
            return true
          } catch {
            return false
          }
        }))
      if (s.some(Boolean)) await store.sync?.()
      return [{ t: 'ack', id: request.id, s }]
    }
  }
}

// ---- client ----

interface Pending {
  request: BlockRequest
  resolve(value: unknown): void
  reject(err: Error): void
  /** for GET: answers collected so far */
  blocks?: Array<Uint8Array | undefined>
}

export interface GetResult {
  cid: CID
  /** verified bytes; undefined when the peer does not have the block */
  bytes?: Uint8Array
}

/**
 * One outbound stream to one peer. Calls may overlap: requests are written
 * at once (pipelined) and answers matched in order. The caller bounds how
 * many are in flight (and so how much the peer may send ahead).
 */
export class BlockSession {
  readonly peer: PeerId
  private readonly framed: FramedStream
  private readonly limits: BlockExchangeLimits
  private readonly queue: Pending[] = []
  private nextId = 0
  private failed?: Error
  private readerRunning = false

  constructor (stream: Stream, peer: PeerId, limits: Partial<BlockExchangeLimits> = {}) {
    this.peer = peer
    this.limits = { ...DEFAULT_BLOCK_LIMITS, ...limits }
    this.framed = new FramedStream(stream, this.limits)
  }

  static async open (dial: (peer: PeerId, protocol: string, options: { signal?: AbortSignal }) => Promise<Stream>, peer: PeerId, options: { signal?: AbortSignal, limits?: Partial<BlockExchangeLimits>, protocol?: string } = {}): Promise<BlockSession> {
    const stream = await dial(peer, options.protocol ?? BLOCK_PROTOCOL, { signal: options.signal })
    return new BlockSession(stream, peer, options.limits)
  }

  get closed (): boolean {
    return this.failed != null
  }

  /** Which of `cids` the peer has. */
  async have (cids: CID[], options: { signal?: AbortSignal } = {}): Promise<boolean[]> {
    const answers: boolean[] = []
    for (let i = 0; i < cids.length; i += this.limits.maxHaveCids) {
      answers.push(...await this.request<boolean[]>({ t: 'have', id: this.nextId++, c: cids.slice(i, i + this.limits.maxHaveCids) }, options))
    }
    return answers
  }

  /**
   * Fetch blocks. Each answer is verified: a block whose bytes do not match
   * its CID throws CorruptBlockError naming this peer.
   */
  async get (cids: CID[], options: { signal?: AbortSignal } = {}): Promise<GetResult[]> {
    const out: GetResult[] = []
    for (let i = 0; i < cids.length; i += this.limits.maxGetCids) {
      const batch = cids.slice(i, i + this.limits.maxGetCids)
      const blocks = await this.request<Array<Uint8Array | undefined>>({ t: 'get', id: this.nextId++, c: batch }, options)
      for (const [j, cid] of batch.entries()) {
        const bytes = blocks[j]
        if (bytes != null && !await verifyBlock(cid, bytes)) {
          throw new CorruptBlockError(cid.toString(), `Peer ${this.peer.toString()} sent bytes for block "${cid}" that do not match it`)
        }
        out.push({ cid, bytes })
      }
    }
    return out
  }

  /** Push blocks; true for each the peer verified and stored. */
  async put (blocks: Array<{ cid: CID, bytes: Uint8Array }>, options: { signal?: AbortSignal } = {}): Promise<boolean[]> {
    const answers: boolean[] = []
    let batch: Array<[CID, Uint8Array]> = []
    let size = 0
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return
      const b = batch
      batch = []
      size = 0
      answers.push(...await this.request<boolean[]>({ t: 'put', id: this.nextId++, b }, options))
    }
    for (const { cid, bytes } of blocks) {
      if (batch.length > 0 && (size + bytes.byteLength + 256 > this.limits.maxFrameBytes - 1024 || batch.length >= this.limits.maxGetCids)) await flush()
      batch.push([cid, bytes])
      size += bytes.byteLength + cid.bytes.byteLength + 16
    }
    await flush()
    return answers
  }

  /** Close gracefully (pending requests are refused); the peer sees a clean end of stream. */
  async close (): Promise<void> {
    if (this.failed != null) return
    this.failed = new AbortedError('The block session was closed')
    for (const p of this.queue.splice(0)) p.reject(this.failed)
    await this.framed.stream.close({ signal: AbortSignal.timeout(5000) }).catch((err: Error) => { this.framed.stream.abort(err) })
  }

  private async request<T> (request: BlockRequest, options: { signal?: AbortSignal }): Promise<T> {
    if (this.failed != null) throw this.failed
    if (options.signal?.aborted === true) throw new AbortedError()
    const { promise, resolve, reject } = Promise.withResolvers<unknown>()
    // when the write below fails, this is rejected too (fail() rejects every
    // pending request) but never awaited: the error is thrown from the write
    promise.catch(() => {})
    const pending: Pending = { request, resolve, reject }
    if (request.t === 'get') pending.blocks = new Array(request.c.length)
    this.queue.push(pending)
    this.startReader()
    const onAbort = (): void => { this.fail(new AbortedError('The block request was aborted')) }
    options.signal?.addEventListener('abort', onAbort, { once: true })
    try {
      await this.framed.write(toWire(request), options)
      return await promise as T
    } catch (err) {
      this.fail(err as Error)
      throw err
    } finally {
      options.signal?.removeEventListener('abort', onAbort)
    }
  }

  private startReader (): void {
    if (this.readerRunning) return
    this.readerRunning = true
    void this.readLoop().finally(() => { this.readerRunning = false })
  }

  private async readLoop (): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const frame = await this.framed.read({ signal: AbortSignal.timeout(this.limits.idleTimeoutMs) })
        if (frame == null) throw new ProtocolError(`Peer ${this.peer.toString()} closed the block stream with requests pending`)
        const response = decodeResponse(frame, this.limits)
        const head = this.queue[0]
        if (head == null || response.id !== head.request.id) throw new ProtocolError(`Peer ${this.peer.toString()} answered out of order`)
        if (response.t === 'error') {
          this.queue.shift()
          head.reject(new ProtocolError(`Peer ${this.peer.toString()} could not serve the request: ${response.m}`))
          continue
        }
        if (response.t === 'block' && head.request.t === 'get' && head.blocks != null) {
          if (response.i >= head.blocks.length) throw new ProtocolError(`Peer ${this.peer.toString()} answered block ${response.i} of ${head.blocks.length}`)
          head.blocks[response.i] = response.d
          if (response.i < head.blocks.length - 1) continue
          this.queue.shift()
          head.resolve(head.blocks)
          continue
        }
        const expected = head.request.t === 'have' ? 'has' : head.request.t === 'put' ? 'ack' : 'block'
        if (response.t !== expected) throw new ProtocolError(`Peer ${this.peer.toString()} answered "${response.t}" to "${head.request.t}"`)
        const values = response.t === 'has' ? response.h : response.t === 'ack' ? response.s : []
        const count = head.request.t === 'have' ? head.request.c.length : head.request.t === 'put' ? head.request.b.length : 0
        if (values.length !== count) throw new ProtocolError(`Peer ${this.peer.toString()} answered ${values.length} of ${count}`)
        this.queue.shift()
        head.resolve(values)
      }
    } catch (err) {
      this.fail(err as Error)
    }
  }

  private fail (err: Error): void {
    if (this.failed == null) {
      this.failed = err
      this.framed.stream.abort(err)
    }
    for (const p of this.queue.splice(0)) p.reject(err)
  }
}
