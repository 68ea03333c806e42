/**
 * `/shoal/block/1.0.0`: batched HAVE / GET / PUT of blocks between two peers
 * over one stream of frames (see codec.ts). The client pipelines requests;
 * the server answers each in order:
 *
 *   {t:'have', id, c:[cid...]}          -> {t:'has', id, h:[bool...]}
 *   {t:'get',  id, c:[cid...]}          -> one {t:'block', id, i, d?} per cid, in order (no d: missing)
 *   {t:'put',  id, b:[[cid, bytes]...], k?} -> {t:'ack', id, s:[bool...]} (false: refused: bad bytes,
 *                                           or a block whose k nearest members do not include the server)
 *   any request the server cannot serve -> {t:'error', id, m, c?} (c: a code, e.g. ERR_STORAGE_FULL)
 *
 * Every block is verified against its CID by whoever receives it: the server
 * before storing a PUT, the client before handing on a GET answer.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import { MAX_BLOCK_BYTES, verifyBlock } from '../content/blocks.ts'
import { CorruptBlockError, ProtocolError, StorageFullError } from '../errors.ts'
import { silentLogger } from '../platform/logger.ts'
import type { Logger } from '../platform/logger.ts'
import { field, isArrayOf, isBytes, isUint, releaseFrame } from './codec.ts'
import type { Frame } from './codec.ts'
import { pipelinedHandler, PipelinedClient } from './pipeline.ts'
import type { ClientLimits } from './pipeline.ts'

export const BLOCK_PROTOCOL = '/shoal/block/1.0.0'

export interface BlockExchangeLimits extends ClientLimits {
  /** largest block accepted (bitswap's is 2 MiB) */
  maxBlockBytes: number
  /** most CIDs in one HAVE */
  maxHaveCids: number
  /** most CIDs in one GET */
  maxGetCids: number
  /** a server stream with nothing in flight and no frame for this long is closed */
  idleTimeoutMs: number
  /** concurrent streams of this protocol per connection, each way */
  maxStreamsPerConnection: number
}

export const DEFAULT_BLOCK_LIMITS: BlockExchangeLimits = {
  maxFrameBytes: 4 * 1024 * 1024 + 1024,
  maxBufferBytes: 64 * 1024 * 1024,
  maxBlockBytes: MAX_BLOCK_BYTES,
  maxHaveCids: 1024,
  maxGetCids: 64,
  idleTimeoutMs: 30_000,
  idleCloseMs: 20_000,
  requestTimeoutMs: 30_000,
  maxStreamsPerConnection: 8
}

/** What the server needs from the node's storage. */
export interface BlockExchangeStore {
  has(cid: CID, options?: { signal?: AbortSignal }): Promise<boolean>
  /** verified bytes, or throws (missing or corrupt: answered as missing) */
  get(cid: CID, options?: { signal?: AbortSignal }): Promise<Uint8Array>
  /** verifies, stores; `from` is the peer that pushed it, `k` the replica set size it pushed for */
  put(cid: CID, bytes: Uint8Array, options: PutFrom): Promise<void>
  /**
   * Optional batch form of `put` (one PUT request's blocks): true for each
   * block verified and stored. Used instead of `put` when present. Throwing
   * StorageFullError answers the whole request with ERR_STORAGE_FULL.
   */
  putMany?(blocks: Array<[CID, Uint8Array]>, options: PutFrom): Promise<boolean[]>
  /** makes the puts so far durable; called before a PUT is acknowledged */
  sync?(): Promise<void>
  /**
   * put and putMany keep no reference to the bytes once they resolve (they
   * copied them to disk): a PUT's frame is then freed as soon as it is
   * acknowledged, instead of waiting for a full GC
   */
  keepsNoBytes?: boolean
}

export interface PutFrom {
  signal?: AbortSignal
  from: PeerId
  /** the replica set size the pusher placed the blocks for (absent: the server's own k) */
  k?: number
}

/** Most replicas a PUT may say it placed for. */
export const MAX_PUT_K = 64

// ---- messages ----

export type BlockRequest =
  | { t: 'have', id: number, c: CID[] }
  | { t: 'get', id: number, c: CID[] }
  | { t: 'put', id: number, b: Array<[CID, Uint8Array]>, k?: number }

export type BlockResponse =
  | { t: 'has', id: number, h: boolean[] }
  | { t: 'block', id: number, i: number, d?: Uint8Array }
  | { t: 'ack', id: number, s: boolean[] }
  | { t: 'error', id: number, m: string, c?: string }

/** The wire form of a message (CIDs as bytes), ready for the codec. */
export function toWire (message: BlockRequest | BlockResponse): object {
  switch (message.t) {
    case 'have':
    case 'get':
      return { t: message.t, id: message.id, c: message.c.map(c => c.bytes) }
    case 'put':
      return { t: 'put', id: message.id, b: message.b.map(([cid, bytes]) => [cid.bytes, bytes]), ...(message.k == null ? {} : { k: message.k }) }
    default:
      return message
  }
}

function decodeCid (bytes: Uint8Array): CID {
  try {
    // a copy: a CID kept (an index entry) must not keep the whole frame alive, nor lose its bytes when it is released
    return CID.decode(new Uint8Array(bytes))
  } catch (err) {
    throw new ProtocolError(`Malformed CID: ${(err as Error).message}`)
  }
}

const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean'

export function decodeRequest (message: Frame, limits: BlockExchangeLimits): BlockRequest {
  const id = field(message, 'id', isUint, 'a non-negative integer')
  switch (message.t) {
    case 'have':
      return { t: 'have', id, c: field(message, 'c', isArrayOf(isBytes, limits.maxHaveCids), `a list of at most ${limits.maxHaveCids} CIDs`).map(decodeCid) }
    case 'get':
      return { t: 'get', id, c: field(message, 'c', isArrayOf(isBytes, limits.maxGetCids), `a list of at most ${limits.maxGetCids} CIDs`).map(decodeCid) }
    case 'put': {
      const isPair = (v: unknown): v is [Uint8Array, Uint8Array] => Array.isArray(v) && v.length === 2 && isBytes(v[0]) && isBytes(v[1])
      const pairs = field(message, 'b', isArrayOf(isPair, limits.maxGetCids), `a list of at most ${limits.maxGetCids} [cid, bytes] pairs`)
      const k = message.k === undefined ? undefined : field(message, 'k', (v): v is number => isUint(v) && v >= 1 && v <= MAX_PUT_K, `a replica count from 1 to ${MAX_PUT_K}`)
      return {
        t: 'put',
        id,
        ...(k == null ? {} : { k }),
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

export function decodeResponse (message: Frame, limits: BlockExchangeLimits): BlockResponse {
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
    case 'error': {
      const m = field(message, 'm', (v): v is string => typeof v === 'string' && v.length <= 1024, 'a short string')
      if (message.c === undefined) return { t: 'error', id, m }
      return { t: 'error', id, m, c: field(message, 'c', (v): v is string => typeof v === 'string' && v.length <= 64, 'a short string') }
    }
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
      const how: PutFrom = request.k == null ? { from } : { from, k: request.k }
      let s: boolean[]
      try {
        s = store.putMany != null
          ? await store.putMany(request.b, how)
          : await Promise.all(request.b.map(async ([cid, bytes]) => {
            try {
              await store.put(cid, bytes, how)
              return true
            } catch (err) {
              if (err instanceof StorageFullError) throw err
              return false
            }
          }))
      } catch (err) {
        if (!(err instanceof StorageFullError)) throw err
        return [{ t: 'error', id: request.id, m: err.message.slice(0, 1024), c: err.code }]
      }
      if (s.some(Boolean)) await store.sync?.()
      if (store.keepsNoBytes === true && request.b.length > 0) releaseFrame(request.b[0][1])
      return [{ t: 'ack', id: request.id, s }]
    }
  }
}

// ---- client ----

export interface GetResult {
  cid: CID
  /** verified bytes; undefined when the peer does not have the block */
  bytes?: Uint8Array
}

/**
 * One outbound block stream to one peer (a PipelinedClient: calls may
 * overlap, an abort fails only its caller). The caller bounds how many
 * calls are in flight, and so how much the peer may send ahead.
 */
export class BlockSession extends PipelinedClient {
  private readonly blockLimits: BlockExchangeLimits

  constructor (stream: Stream, peer: PeerId, limits: Partial<BlockExchangeLimits> = {}) {
    const full = { ...DEFAULT_BLOCK_LIMITS, ...limits }
    super(stream, peer, full, 'block')
    this.blockLimits = full
  }

  static async open (dial: (peer: PeerId, protocol: string, options: { signal?: AbortSignal }) => Promise<Stream>, peer: PeerId, options: { signal?: AbortSignal, limits?: Partial<BlockExchangeLimits>, protocol?: string } = {}): Promise<BlockSession> {
    const stream = await dial(peer, options.protocol ?? BLOCK_PROTOCOL, { signal: options.signal })
    return new BlockSession(stream, peer, options.limits)
  }

  /** Which of `cids` the peer has. */
  async have (cids: CID[], options: { signal?: AbortSignal } = {}): Promise<boolean[]> {
    const answers: boolean[] = []
    for (let i = 0; i < cids.length; i += this.blockLimits.maxHaveCids) {
      const batch = cids.slice(i, i + this.blockLimits.maxHaveCids)
      answers.push(...await this.call({ t: 'have', c: batch }, 'has', batch.length, options))
    }
    return answers
  }

  /**
   * Fetch blocks. Each answer is verified: a block whose bytes do not match
   * its CID throws CorruptBlockError naming this peer.
   */
  async get (cids: CID[], options: { signal?: AbortSignal } = {}): Promise<GetResult[]> {
    const out: GetResult[] = []
    for (let i = 0; i < cids.length; i += this.blockLimits.maxGetCids) {
      const batch = cids.slice(i, i + this.blockLimits.maxGetCids)
      const blocks = new Array<Uint8Array | undefined>(batch.length)
      await this.request(id => toWire({ t: 'get', id, c: batch }), (frame) => {
        const response = this.expect(frame, 'block')
        if (response.i >= blocks.length) throw new ProtocolError(`Peer ${this.peer.toString()} answered block ${response.i} of ${blocks.length}`)
        blocks[response.i] = response.d
        return response.i === blocks.length - 1 ? { value: blocks } : undefined
      }, options)
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

  /**
   * Push blocks placed on a replica set of `k`; true for each the peer
   * verified and stored. A peer at its quota answers PeerRefusedError with
   * remoteCode ERR_STORAGE_FULL.
   */
  async put (blocks: Array<{ cid: CID, bytes: Uint8Array }>, options: { signal?: AbortSignal, k?: number } = {}): Promise<boolean[]> {
    const answers: boolean[] = []
    let batch: Array<[CID, Uint8Array]> = []
    let size = 0
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return
      const b = batch
      batch = []
      size = 0
      answers.push(...await this.call({ t: 'put', b, ...(options.k == null ? {} : { k: Math.min(options.k, MAX_PUT_K) }) }, 'ack', b.length, options))
    }
    for (const { cid, bytes } of blocks) {
      if (batch.length > 0 && (size + bytes.byteLength + 256 > this.blockLimits.maxFrameBytes - 1024 || batch.length >= this.blockLimits.maxGetCids)) await flush()
      batch.push([cid, bytes])
      size += bytes.byteLength + cid.bytes.byteLength + 16
    }
    await flush()
    return answers
  }

  /** A HAVE or PUT: one answer frame of `count` booleans. */
  private async call (request: { t: 'have', c: CID[] } | { t: 'put', b: Array<[CID, Uint8Array]>, k?: number }, answer: 'has' | 'ack', count: number, options: { signal?: AbortSignal }): Promise<boolean[]> {
    return await this.request(id => toWire({ ...request, id }), (frame) => {
      const response = this.expect(frame, answer)
      const values = response.t === 'has' ? response.h : response.s
      if (values.length !== count) throw new ProtocolError(`Peer ${this.peer.toString()} answered ${values.length} of ${count}`)
      return { value: values }
    }, options)
  }

  private expect<T extends BlockResponse['t']> (frame: Frame, t: T): Extract<BlockResponse, { t: T }> {
    const response = decodeResponse(frame, this.blockLimits)
    if (response.t !== t) throw new ProtocolError(`Peer ${this.peer.toString()} answered "${response.t}" where "${t}" was due`)
    return response as Extract<BlockResponse, { t: T }>
  }
}
