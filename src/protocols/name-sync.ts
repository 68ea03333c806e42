/**
 * `/shoal/names/1.0.0`: name records between replicas, over one stream of
 * frames (see codec.ts). The client pipelines requests; the server works on
 * up to `maxPipelined` at once and answers each in order:
 *
 *   {t:'put',  id, r: record}         -> {t:'ok', id, h: hash, r?: record}
 *       the server verifies the record, stores merge(its record, r) durably,
 *       then answers with the hash of what it now holds, and that record too
 *       when it differs from the one sent (the sender lacks something)
 *   {t:'get',  id, k: key}            -> {t:'rec', id, r?: record}   (no r: none here)
 *   {t:'sync', id, d: [[key, hash]...]} -> {t:'hashes', id, h: [hash...]}
 *       the hash of the server's record of each key, in order (empty bytes:
 *       none); the client then PUTs each key that differs, and the answers to
 *       those PUTs carry back what it lacks, so one round converges both ways
 *   {t:'list', id, p: prefix, a?: after} -> {t:'recs', id, r: [record...], m: more}
 *       records of the names under `prefix`, in key order after `a`, a page
 *       at a time (at most maxListRecords and about maxListBytes)
 *   any request the server cannot serve -> {t:'error', id, m, c?: code}
 *
 * A record is the canonical CBOR of src/names/record.ts, opaque here: this
 * layer checks sizes, the store behind the handler decodes and verifies
 * signatures. A record the store rejects (forged signature, tampered vector,
 * malformed) is answered with an error and logged with the peer id; the stream
 * keeps serving. A frame that breaks the protocol closes the stream.
 * A hash is the sha2-256 of a record's bytes.
 */
import { createHash } from 'node:crypto'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { equals as equalBytes } from 'uint8arrays/equals'
import { ProtocolError, ShoalError } from '../errors.ts'
import { silentLogger } from '../platform/logger.ts'
import type { Logger } from '../platform/logger.ts'
import { field, isArrayOf, isBool, isBytes, isString, isUint } from './codec.ts'
import type { Frame } from './codec.ts'
import { MAX_ERROR_MESSAGE, pipelinedHandler, PipelinedClient } from './pipeline.ts'
import type { ClientLimits } from './pipeline.ts'

export const NAME_SYNC_PROTOCOL = '/shoal/names/1.0.0'
export const HASH_BYTES = 32

export interface NameSyncLimits extends ClientLimits {
  /** largest record accepted (the record format's own limit is 1 MiB) */
  maxRecordBytes: number
  /** UTF-8 bytes of a key or prefix */
  maxKeyBytes: number
  /** keys in one SYNC */
  maxSyncKeys: number
  /** records in one LIST answer */
  maxListRecords: number
  /** a LIST answer stops adding records past this many bytes (one record always fits) */
  maxListBytes: number
  /** requests the server works on at once per stream */
  maxPipelined: number
  /** a server stream with nothing in flight and no frame for this long is closed */
  idleTimeoutMs: number
  /** concurrent streams of this protocol per connection, each way */
  maxStreamsPerConnection: number
}

export const DEFAULT_NAME_SYNC_LIMITS: Readonly<NameSyncLimits> = Object.freeze({
  maxFrameBytes: 2 * 1024 * 1024 + 64 * 1024,
  maxBufferBytes: 8 * 1024 * 1024,
  maxRecordBytes: 1024 * 1024,
  maxKeyBytes: 1024,
  maxSyncKeys: 256,
  maxListRecords: 256,
  maxListBytes: 1024 * 1024,
  maxPipelined: 16,
  idleTimeoutMs: 30_000,
  idleCloseMs: 20_000,
  requestTimeoutMs: 10_000,
  maxStreamsPerConnection: 4
})

/** sha2-256 of a record's bytes: what SYNC compares. */
export function recordHash (record: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(record).digest())
}

/** What the server needs from the node's name store. */
export interface NameSyncStore {
  /**
   * Decode and verify `record`, store the merge of it with the local record
   * durably, and return what is held now. Throws to refuse it (the error's
   * message goes back to the peer and to the log).
   */
  put(record: Uint8Array, options: { from: PeerId, signal?: AbortSignal }): Promise<{ hash: Uint8Array, record: Uint8Array }>
  /** the local record of `key`, if any */
  get(key: string, options: { from: PeerId }): Promise<Uint8Array | undefined>
  /** the hashes of the local records of `entries`' keys (undefined: none); `entries` say what the peer holds */
  hashes(entries: Array<[string, Uint8Array]>, options: { from: PeerId }): Promise<Array<Uint8Array | undefined>>
  /** a page of the records under `prefix` after `after`, in key order */
  list(prefix: string, after: string | undefined, options: { from: PeerId, maxRecords: number, maxBytes: number }): Promise<{ records: Uint8Array[], more: boolean }>
}

// ---- messages ----

export type NameRequest =
  | { t: 'put', id: number, r: Uint8Array }
  | { t: 'get', id: number, k: string }
  | { t: 'sync', id: number, d: Array<[string, Uint8Array]> }
  | { t: 'list', id: number, p: string, a?: string }

export type NameResponse =
  | { t: 'ok', id: number, h: Uint8Array, r?: Uint8Array }
  | { t: 'rec', id: number, r?: Uint8Array }
  | { t: 'hashes', id: number, h: Uint8Array[] }
  | { t: 'recs', id: number, r: Uint8Array[], m: boolean }
  | { t: 'error', id: number, m: string, c?: string }

const utf8 = new TextEncoder()

function checkKey (key: string, limits: NameSyncLimits, what: string, t: string): string {
  if (!key.isWellFormed() || utf8.encode(key).length > limits.maxKeyBytes) {
    throw new ProtocolError(`Malformed "${t}" message: the ${what} must be well-formed text of at most ${limits.maxKeyBytes} bytes`)
  }
  return key
}

function checkRecordSize (record: Uint8Array, limits: NameSyncLimits): Uint8Array {
  if (record.byteLength === 0 || record.byteLength > limits.maxRecordBytes) {
    throw new ProtocolError(`Name record of ${record.byteLength} bytes refused: the limit is ${limits.maxRecordBytes}`)
  }
  return record
}

const isHash = (v: unknown): v is Uint8Array => v instanceof Uint8Array && v.byteLength === HASH_BYTES
const isHashOrNone = (v: unknown): v is Uint8Array => v instanceof Uint8Array && (v.byteLength === HASH_BYTES || v.byteLength === 0)
const isDigestEntry = (v: unknown): v is [string, Uint8Array] => Array.isArray(v) && v.length === 2 && isString(v[0]) && isHash(v[1])

/** The wire form of a message (absent optional fields left out), ready for the codec. */
export function toWire (message: NameRequest | NameResponse): object {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(message)) if (v !== undefined) out[k] = v
  return out
}

export function decodeRequest (message: Frame, limits: NameSyncLimits): NameRequest {
  const id = field(message, 'id', isUint, 'a non-negative integer')
  switch (message.t) {
    case 'put':
      return { t: 'put', id, r: checkRecordSize(field(message, 'r', isBytes, 'bytes'), limits) }
    case 'get':
      return { t: 'get', id, k: checkKey(field(message, 'k', isString, 'a string'), limits, 'key', 'get') }
    case 'sync': {
      const d = field(message, 'd', isArrayOf(isDigestEntry, limits.maxSyncKeys), `a list of at most ${limits.maxSyncKeys} [key, 32-byte hash] pairs`)
      for (const [key] of d) checkKey(key, limits, 'key', 'sync')
      return { t: 'sync', id, d }
    }
    case 'list': {
      const p = checkKey(field(message, 'p', isString, 'a string'), limits, 'prefix', 'list')
      if (message.a === undefined) return { t: 'list', id, p }
      return { t: 'list', id, p, a: checkKey(field(message, 'a', isString, 'a string'), limits, 'cursor', 'list') }
    }
    default:
      throw new ProtocolError(`Unknown request type "${message.t}"`)
  }
}

export function decodeResponse (message: Frame, limits: NameSyncLimits): NameResponse {
  const id = field(message, 'id', isUint, 'a non-negative integer')
  switch (message.t) {
    case 'ok': {
      const h = field(message, 'h', isHash, 'a 32-byte hash')
      if (message.r === undefined) return { t: 'ok', id, h }
      return { t: 'ok', id, h, r: checkRecordSize(field(message, 'r', isBytes, 'bytes'), limits) }
    }
    case 'rec':
      if (message.r === undefined) return { t: 'rec', id }
      return { t: 'rec', id, r: checkRecordSize(field(message, 'r', isBytes, 'bytes'), limits) }
    case 'hashes':
      return { t: 'hashes', id, h: field(message, 'h', isArrayOf(isHashOrNone, limits.maxSyncKeys), `a list of at most ${limits.maxSyncKeys} hashes`) }
    case 'recs': {
      const r = field(message, 'r', isArrayOf(isBytes, limits.maxListRecords), `a list of at most ${limits.maxListRecords} records`)
      for (const record of r) checkRecordSize(record, limits)
      return { t: 'recs', id, r, m: field(message, 'm', isBool, 'a boolean') }
    }
    case 'error': {
      const m = field(message, 'm', (v): v is string => isString(v) && v.length <= MAX_ERROR_MESSAGE, 'a short string')
      if (message.c === undefined) return { t: 'error', id, m }
      return { t: 'error', id, m, c: field(message, 'c', (v): v is string => isString(v) && v.length <= 64, 'a short string') }
    }
    default:
      throw new ProtocolError(`Unknown response type "${message.t}"`)
  }
}

// ---- server ----

export interface NameSyncServerInit {
  store: NameSyncStore
  limits?: Partial<NameSyncLimits>
  logger?: Logger
}

/**
 * Serves one inbound stream until the peer closes it, idles out, or breaks
 * the protocol. Up to `maxPipelined` requests are worked on at once and
 * answered in order.
 */
export function nameSyncHandler (init: NameSyncServerInit): (stream: Stream, connection: Connection) => Promise<void> {
  const limits: NameSyncLimits = { ...DEFAULT_NAME_SYNC_LIMITS, ...init.limits }
  const log = init.logger ?? silentLogger
  return pipelinedHandler('name sync', limits, log, (peer) => ({
    idleTimeoutMs: limits.idleTimeoutMs,
    decode: (frame) => decodeRequest(frame, limits),
    answer: async (request) => [toWire(await serve(request, init.store, peer, limits, log))],
    weight: () => 1,
    // at most maxPipelined requests in flight: the next frame waits once that many are
    maxWeight: limits.maxPipelined - 1
  }))
}

/** The answer to one request; the store's refusals become error answers (and log lines). */
async function serve (request: NameRequest, store: NameSyncStore, from: PeerId, limits: NameSyncLimits, log: Logger): Promise<NameResponse> {
  try {
    switch (request.t) {
      case 'put': {
        const held = await store.put(request.r, { from })
        return equalBytes(held.hash, recordHash(request.r)) ? { t: 'ok', id: request.id, h: held.hash } : { t: 'ok', id: request.id, h: held.hash, r: held.record }
      }
      case 'get': {
        const r = await store.get(request.k, { from })
        return r == null ? { t: 'rec', id: request.id } : { t: 'rec', id: request.id, r }
      }
      case 'sync': {
        const hashes = await store.hashes(request.d, { from })
        return { t: 'hashes', id: request.id, h: hashes.map(h => h ?? new Uint8Array()) }
      }
      case 'list': {
        const page = await store.list(request.p, request.a, { from, maxRecords: limits.maxListRecords, maxBytes: limits.maxListBytes })
        return { t: 'recs', id: request.id, r: page.records, m: page.more }
      }
    }
  } catch (err) {
    const e = err as Error
    const code = e instanceof ShoalError ? e.code : undefined
    if (request.t === 'put') log.warn('rejected a name record from peer', { peer: from.toString(), error: e.message, code })
    else log.warn('could not serve a name request from peer', { peer: from.toString(), request: request.t, error: e.message })
    const m = (e instanceof ShoalError ? e.message : 'internal error').slice(0, MAX_ERROR_MESSAGE)
    return code == null ? { t: 'error', id: request.id, m } : { t: 'error', id: request.id, m, c: code }
  }
}

// ---- client ----

/**
 * One outbound name stream to one peer (a PipelinedClient: calls may
 * overlap, an abort fails only its caller; a request not answered within
 * `requestTimeoutMs` closes the session).
 */
export class NameSession extends PipelinedClient {
  private readonly nameLimits: NameSyncLimits

  constructor (stream: Stream, peer: PeerId, limits: Partial<NameSyncLimits> = {}) {
    const full = { ...DEFAULT_NAME_SYNC_LIMITS, ...limits }
    super(stream, peer, full, 'name')
    this.nameLimits = full
  }

  static async open (dial: (peer: PeerId, protocol: string, options: { signal?: AbortSignal }) => Promise<Stream>, peer: PeerId, options: { signal?: AbortSignal, limits?: Partial<NameSyncLimits> } = {}): Promise<NameSession> {
    const stream = await dial(peer, NAME_SYNC_PROTOCOL, { signal: options.signal })
    return new NameSession(stream, peer, options.limits)
  }

  /** Send a record; the hash of what the peer holds after merging it, and that record when it differs. */
  async put (record: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<{ hash: Uint8Array, record?: Uint8Array }> {
    const answer = await this.call({ t: 'put', r: record }, 'ok', options)
    return answer.r == null ? { hash: answer.h } : { hash: answer.h, record: answer.r }
  }

  /** The peer's record of `key` (undefined: it has none). */
  async get (key: string, options: { signal?: AbortSignal } = {}): Promise<Uint8Array | undefined> {
    return (await this.call({ t: 'get', k: key }, 'rec', options)).r
  }

  /** The peer's hash of each key (undefined: none), in batches of maxSyncKeys. */
  async sync (entries: Array<[string, Uint8Array]>, options: { signal?: AbortSignal } = {}): Promise<Array<Uint8Array | undefined>> {
    const out: Array<Uint8Array | undefined> = []
    for (let i = 0; i < entries.length; i += this.nameLimits.maxSyncKeys) {
      const batch = entries.slice(i, i + this.nameLimits.maxSyncKeys)
      const answer = await this.call({ t: 'sync', d: batch }, 'hashes', options)
      if (answer.h.length !== batch.length) throw new ProtocolError(`Peer ${this.peer.toString()} answered ${answer.h.length} hashes for ${batch.length} keys`)
      out.push(...answer.h.map(h => h.byteLength === 0 ? undefined : h))
    }
    return out
  }

  /** One page of the peer's records under `prefix`, after `after`. */
  async list (prefix: string, after?: string, options: { signal?: AbortSignal } = {}): Promise<{ records: Uint8Array[], more: boolean }> {
    const answer = await this.call(after == null ? { t: 'list', p: prefix } : { t: 'list', p: prefix, a: after }, 'recs', options)
    return { records: answer.r, more: answer.m }
  }

  /** One request and its one answer frame, which must be of type `t`. */
  private async call<T extends NameResponse['t']> (request: DistributiveOmit<NameRequest, 'id'>, t: T, options: { signal?: AbortSignal }): Promise<Extract<NameResponse, { t: T }>> {
    return await this.request(id => toWire({ ...request, id } as NameRequest), (frame) => {
      const response = decodeResponse(frame, this.nameLimits)
      if (response.t !== t) throw new ProtocolError(`Peer ${this.peer.toString()} answered "${response.t}" to "${request.t}"`)
      return { value: response as Extract<NameResponse, { t: T }> }
    }, options)
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never
