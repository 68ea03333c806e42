/**
 * `/shoal/ranges/1.0.0`: anti-entropy between two holders of the same key
 * ranges. A range is a prefix of the keyspace (kad: sha2-256 of a block's
 * multihash): its first key's leading bytes and its depth in bits. Over
 * one stream of frames (codec.ts), pipelined (pipeline.ts):
 *
 *   {t:'sum', id, r:[[lo, depth]...], x?: digest}
 *       -> {t:'sums', id, x: true}                       the server's digest is x too: in sync
 *       -> {t:'sums', id, h:[hash...], n:[count...]}     else each range's summary, in order
 *   {t:'keys', id, r:[lo, depth], a?: kad}
 *       -> {t:'keys', id, k:[multihash...], m: more}     the blocks the server stores in the
 *          range, in kad order after `a`, a page at a time
 *   any request the server cannot serve -> {t:'error', id, m}
 *
 * A range's summary is the XOR of the kads of the blocks stored in it (32
 * bytes, all zero for none) and their count: an incremental set hash, so two
 * holders that agree exchange one digest whatever they hold, and a
 * difference is narrowed down range by range. The digest is the sha2-256 of
 * the summaries (hash, then the count as 8 bytes big-endian) in order.
 */
import { createHash } from 'node:crypto'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { ProtocolError } from '../errors.ts'
import { silentLogger } from '../platform/logger.ts'
import type { Logger } from '../platform/logger.ts'
import { field, isArrayOf, isBool, isBytes, isUint } from './codec.ts'
import type { Frame } from './codec.ts'
import { pipelinedHandler, PipelinedClient } from './pipeline.ts'
import type { ClientLimits } from './pipeline.ts'

export const RANGE_SYNC_PROTOCOL = '/shoal/ranges/1.0.0'
export const KEY_BYTES = 32

export interface RangeSyncLimits extends ClientLimits {
  /** ranges in one SUM */
  maxRanges: number
  /** multihashes in one KEYS page */
  maxKeys: number
  /** bytes of one multihash */
  maxMultihashBytes: number
  /** a server stream with nothing in flight and no frame for this long is closed */
  idleTimeoutMs: number
  /** concurrent streams of this protocol per connection, each way */
  maxStreamsPerConnection: number
}

export const DEFAULT_RANGE_SYNC_LIMITS: Readonly<RangeSyncLimits> = Object.freeze({
  maxFrameBytes: 256 * 1024,
  maxBufferBytes: 4 * 1024 * 1024,
  maxRanges: 4096,
  maxKeys: 1024,
  maxMultihashBytes: 128,
  idleTimeoutMs: 30_000,
  idleCloseMs: 20_000,
  requestTimeoutMs: 30_000,
  maxStreamsPerConnection: 2
})

/** A prefix of the keyspace: every key whose first `depth` bits are those of `lo`. */
export interface KeyRange {
  /** the range's first key (32 bytes: the prefix, then zeros) */
  lo: Uint8Array
  depth: number
}

export interface RangeSummary {
  /** XOR of the kads of the blocks in the range (32 bytes) */
  hash: Uint8Array
  count: number
}

/** What the server needs: summaries and keys of the blocks it stores. */
export interface RangeSyncStore {
  summary(range: KeyRange): Promise<RangeSummary>
  /** multihashes of the blocks in `range`, in kad order, after the kad `after`, at most `limit` */
  keys(range: KeyRange, after: Uint8Array | undefined, limit: number): Promise<Uint8Array[]>
}

/** The digest of a list of summaries: sha2-256 of each (hash, count as 8 bytes), in order. */
export function summaryDigest (summaries: RangeSummary[]): Uint8Array {
  const h = createHash('sha256')
  const count = Buffer.alloc(8)
  for (const s of summaries) {
    h.update(s.hash)
    count.writeBigUInt64BE(BigInt(s.count))
    h.update(count)
  }
  return new Uint8Array(h.digest())
}

// ---- messages ----

export type RangeRequest =
  | { t: 'sum', id: number, r: KeyRange[], x?: Uint8Array }
  | { t: 'keys', id: number, r: KeyRange, a?: Uint8Array }

export type RangeResponse =
  | { t: 'sums', id: number, x: true }
  | { t: 'sums', id: number, h: Uint8Array[], n: number[] }
  | { t: 'keys', id: number, k: Uint8Array[], m: boolean }
  | { t: 'error', id: number, m: string }

/** A range on the wire: [the prefix's bytes (what `depth` covers), depth]. */
function rangeToWire (r: KeyRange): [Uint8Array, number] {
  return [r.lo.subarray(0, Math.ceil(r.depth / 8)), r.depth]
}

function rangeFromWire (v: unknown): KeyRange {
  if (!Array.isArray(v) || v.length !== 2 || !isBytes(v[0]) || !isUint(v[1]) || v[1] > KEY_BYTES * 8 || v[0].byteLength !== Math.ceil(v[1] / 8)) {
    throw new ProtocolError('Malformed range: expected [prefix bytes, depth in bits]')
  }
  const [prefix, depth] = v as [Uint8Array, number]
  const lo = new Uint8Array(KEY_BYTES)
  lo.set(prefix)
  // bits past the depth must be zero: one range, one spelling
  if ((depth & 7) !== 0 && (lo[depth >> 3] & (0xff >> (depth & 7))) !== 0) throw new ProtocolError('Malformed range: bits past its depth are set')
  return { lo, depth }
}

const isKad = (v: unknown): v is Uint8Array => isBytes(v) && v.byteLength === KEY_BYTES

/** The wire form of a message, ready for the codec. */
export function toWire (message: RangeRequest | RangeResponse): object {
  switch (message.t) {
    case 'sum':
      return message.x == null ? { t: 'sum', id: message.id, r: message.r.map(rangeToWire) } : { t: 'sum', id: message.id, r: message.r.map(rangeToWire), x: message.x }
    case 'keys':
      if ('r' in message) return message.a == null ? { t: 'keys', id: message.id, r: rangeToWire(message.r) } : { t: 'keys', id: message.id, r: rangeToWire(message.r), a: message.a }
      return message
    default:
      return message
  }
}

export function decodeRequest (message: Frame, limits: RangeSyncLimits): RangeRequest {
  const id = field(message, 'id', isUint, 'a non-negative integer')
  switch (message.t) {
    case 'sum': {
      const r = field(message, 'r', (v): v is unknown[] => Array.isArray(v) && v.length <= limits.maxRanges, `a list of at most ${limits.maxRanges} ranges`).map(rangeFromWire)
      if (message.x === undefined) return { t: 'sum', id, r }
      return { t: 'sum', id, r, x: field(message, 'x', isKad, 'a 32-byte digest') }
    }
    case 'keys': {
      const r = rangeFromWire(message.r)
      if (message.a === undefined) return { t: 'keys', id, r }
      return { t: 'keys', id, r, a: field(message, 'a', isKad, 'a 32-byte key') }
    }
    default:
      throw new ProtocolError(`Unknown request type "${message.t}"`)
  }
}

export function decodeResponse (message: Frame, limits: RangeSyncLimits): RangeResponse {
  const id = field(message, 'id', isUint, 'a non-negative integer')
  switch (message.t) {
    case 'sums': {
      if (message.x === true) return { t: 'sums', id, x: true }
      const h = field(message, 'h', isArrayOf(isKad, limits.maxRanges), `a list of at most ${limits.maxRanges} 32-byte hashes`)
      const n = field(message, 'n', isArrayOf(isUint, limits.maxRanges), 'a list of counts')
      if (h.length !== n.length) throw new ProtocolError('Malformed "sums" message: as many counts as hashes are needed')
      return { t: 'sums', id, h, n }
    }
    case 'keys': {
      const isMh = (v: unknown): v is Uint8Array => isBytes(v) && v.byteLength > 0 && v.byteLength <= limits.maxMultihashBytes
      return { t: 'keys', id, k: field(message, 'k', isArrayOf(isMh, limits.maxKeys), `a list of at most ${limits.maxKeys} multihashes`), m: field(message, 'm', isBool, 'a boolean') }
    }
    default:
      throw new ProtocolError(`Unknown response type "${message.t}"`)
  }
}

// ---- server ----

export function rangeSyncHandler (init: { store: RangeSyncStore, limits?: Partial<RangeSyncLimits>, logger?: Logger }): (stream: Stream, connection: Connection) => Promise<void> {
  const limits = { ...DEFAULT_RANGE_SYNC_LIMITS, ...init.limits }
  const { store } = init
  return pipelinedHandler('range sync', limits, init.logger ?? silentLogger, () => ({
    idleTimeoutMs: limits.idleTimeoutMs,
    decode: (frame) => decodeRequest(frame, limits),
    answer: async (request) => {
      if (request.t === 'keys') {
        const k = await store.keys(request.r, request.a, limits.maxKeys + 1)
        return [toWire({ t: 'keys', id: request.id, k: k.slice(0, limits.maxKeys), m: k.length > limits.maxKeys })]
      }
      const summaries: RangeSummary[] = []
      for (const r of request.r) summaries.push(await store.summary(r))
      if (request.x != null && Buffer.from(summaryDigest(summaries)).equals(request.x)) return [toWire({ t: 'sums', id: request.id, x: true })]
      return [toWire({ t: 'sums', id: request.id, h: summaries.map(s => s.hash), n: summaries.map(s => s.count) })]
    },
    weight: () => 1,
    maxWeight: 3
  }))
}

// ---- client ----

export class RangeSession extends PipelinedClient {
  private readonly rangeLimits: RangeSyncLimits

  constructor (stream: Stream, peer: PeerId, limits: Partial<RangeSyncLimits> = {}) {
    const full = { ...DEFAULT_RANGE_SYNC_LIMITS, ...limits }
    super(stream, peer, full, 'range')
    this.rangeLimits = full
  }

  /**
   * The peer's summary of each range; `digest` (of this node's summaries of
   * the same ranges) lets the peer answer just "the same".
   */
  async summaries (ranges: KeyRange[], digest?: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<'same' | RangeSummary[]> {
    if (ranges.length > this.rangeLimits.maxRanges) throw new ProtocolError(`Too many ranges in one request: ${ranges.length} (at most ${this.rangeLimits.maxRanges})`)
    return await this.request<'same' | RangeSummary[]>(id => toWire(digest == null ? { t: 'sum', id, r: ranges } : { t: 'sum', id, r: ranges, x: digest }), (frame) => {
      const response = decodeResponse(frame, this.rangeLimits)
      if (response.t !== 'sums') throw new ProtocolError(`Peer ${this.peer.toString()} answered "${response.t}" to "sum"`)
      if ('x' in response) {
        if (digest == null) throw new ProtocolError(`Peer ${this.peer.toString()} answered "the same" to a request without a digest`)
        return { value: 'same' as const }
      }
      if (response.h.length !== ranges.length) throw new ProtocolError(`Peer ${this.peer.toString()} answered ${response.h.length} summaries for ${ranges.length} ranges`)
      return { value: response.h.map((hash, i) => ({ hash, count: response.n[i] })) }
    }, options)
  }

  /** One page of the multihashes the peer stores in `range`, after the kad `after`. */
  async keys (range: KeyRange, after?: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<{ keys: Uint8Array[], more: boolean }> {
    return await this.request(id => toWire(after == null ? { t: 'keys', id, r: range } : { t: 'keys', id, r: range, a: after }), (frame) => {
      const response = decodeResponse(frame, this.rangeLimits)
      if (response.t !== 'keys') throw new ProtocolError(`Peer ${this.peer.toString()} answered "${response.t}" to "keys"`)
      return { value: { keys: response.k, more: response.m } }
    }, options)
  }
}
