/**
 * The wire format of every shoal protocol: frames of one unsigned-varint
 * length followed by that many bytes of CBOR (a map with a string `t`, the
 * message type). Explicit limits: a frame longer than `maxFrameBytes` is
 * refused before it is read, and a peer that sends more than
 * `maxBufferBytes` ahead of the reader is cut off.
 */
import { byteStream } from '@libp2p/utils'
import type { ByteStream } from '@libp2p/utils'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import * as varint from 'uint8-varint'
import { ProtocolError, StreamClosedError } from '../errors.ts'
import type { Logger } from '../platform/logger.ts'
import { decodeCbor, encodeCbor } from './cbor.ts'

export interface FrameLimits {
  /** largest frame accepted or sent */
  maxFrameBytes: number
  /** most bytes buffered from the peer ahead of the reader */
  maxBufferBytes: number
}

export interface ReadOptions {
  signal?: AbortSignal
}

/** Encode one message as a frame: the length prefix, then the CBOR body in chunks (byte strings not copied). */
export function encodeFrame (message: object, maxFrameBytes = Infinity): Uint8Array[] {
  const body = encodeCbor(message)
  let length = 0
  for (const chunk of body) length += chunk.byteLength
  if (length > maxFrameBytes) throw new ProtocolError(`Refusing to send a ${length}-byte frame: the limit is ${maxFrameBytes}`)
  return [varint.encode(length), ...body]
}

/** Decode the CBOR body of one frame into a message with a string type `t`. */
export function decodeFrameBody (body: Uint8Array): Record<string, unknown> & { t: string } {
  let value: unknown
  try {
    value = decodeCbor(body)
  } catch (err) {
    throw new ProtocolError(`Malformed frame: ${(err as Error).message}`)
  }
  if (typeof value !== 'object' || value == null || Array.isArray(value) || typeof (value as { t?: unknown }).t !== 'string') {
    throw new ProtocolError('Malformed frame: expected a map with a string "t"')
  }
  return value as Record<string, unknown> & { t: string }
}

/** A libp2p stream read and written as frames. */
export class FramedStream {
  readonly stream: Stream
  private readonly bytes: ByteStream<Stream>
  private readonly limits: FrameLimits

  constructor (stream: Stream, limits: FrameLimits) {
    this.stream = stream
    this.limits = limits
    this.bytes = byteStream(stream, { maxBufferSize: limits.maxBufferBytes })
  }

  /** The next message, or null when the peer closed its side cleanly between frames. */
  async read (options: ReadOptions = {}): Promise<(Record<string, unknown> & { t: string }) | null> {
    // unsigned varint, read a byte at a time (at most 8 bytes: 2^56)
    let length = 0
    for (let i = 0; ; i++) {
      if (i === 8) throw new ProtocolError('Malformed frame: length prefix too long')
      let byte: number
      try {
        const one = await this.bytes.read({ bytes: 1, signal: options.signal })
        byte = one.get(0)
      } catch (err) {
        if (i === 0 && (err as Error).name === 'UnexpectedEOFError') return null
        throw err
      }
      length += (byte & 0x7f) * 2 ** (7 * i)
      if ((byte & 0x80) === 0) break
    }
    if (length > this.limits.maxFrameBytes) {
      throw new ProtocolError(`Frame of ${length} bytes refused: the limit is ${this.limits.maxFrameBytes}`)
    }
    if (length === 0) throw new ProtocolError('Malformed frame: empty')
    const body = await this.bytes.read({ bytes: length, signal: options.signal })
    // always one copy into a new buffer, so the decoded byte strings (views)
    // never share a buffer that lower layers own
    return decodeFrameBody(body.slice())
  }

  async write (message: object, options: ReadOptions = {}): Promise<void> {
    // one write per frame, so that concurrent writers never interleave
    const frame = new Uint8ArrayList(...encodeFrame(message, this.limits.maxFrameBytes))
    try {
      await this.bytes.write(frame, options)
    } catch (err) {
      // a stream that closes while the write waits for it to drain rejects
      // with the close event itself, which is not an Error
      if (err instanceof Error) throw err
      throw new StreamClosedError(`The ${this.stream.protocol} stream closed before a frame could be written`)
    }
  }
}

// ---- field readers: every decoded field is checked before use ----

export function field<T> (message: Record<string, unknown>, name: string, check: (v: unknown) => v is T, what: string): T {
  const value = message[name]
  if (!check(value)) throw new ProtocolError(`Malformed "${String(message.t)}" message: "${name}" must be ${what}`)
  return value
}

export const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
export const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array
export const isString = (v: unknown): v is string => typeof v === 'string'
export const isBool = (v: unknown): v is boolean => typeof v === 'boolean'
export function isArrayOf<T> (check: (v: unknown) => v is T, max: number): (v: unknown) => v is T[] {
  return (v: unknown): v is T[] => Array.isArray(v) && v.length <= max && v.every(check)
}

// ---- serving a stream of pipelined requests ----

export interface PipelineInit<R> {
  /** a stream with no frame for this long is closed */
  idleTimeoutMs: number
  /** checks and types one request frame; throws ProtocolError */
  decode(frame: Record<string, unknown> & { t: string }): R
  /** the answer frames to one request; the work starts at once */
  answer(request: R): Promise<object[]>
  /** what a request costs of the in-flight budget */
  weight(request: R): number
  /** the next frame is read only while the in-flight weight is at most this */
  maxWeight: number
}

/**
 * Serve requests as they arrive: each one's work starts at once, at most
 * `maxWeight` of them are in flight, and the answers are written in request
 * order. Returns when the peer closes its side; throws on a protocol error,
 * an idle timeout or a failed write (the caller logs and aborts the stream).
 */
async function servePipelined<R> (framed: FramedStream, init: PipelineInit<R>): Promise<void> {
  // answers are written in request order: each waits for the one before
  let written: Promise<void> = Promise.resolve()
  const inFlight: Array<{ weight: number, done: Promise<void> }> = []
  let weight = 0
  while (true) {
    const frame = await framed.read({ signal: AbortSignal.timeout(init.idleTimeoutMs) })
    if (frame == null) break
    const request = init.decode(frame)
    const w = init.weight(request)
    const answers = init.answer(request)
    answers.catch(() => {}) // reported through `written`
    const previous = written
    written = (async () => {
      await previous
      for (const message of await answers) await framed.write(message)
    })()
    const done = written.finally(() => { weight -= w })
    done.catch(() => {})
    inFlight.push({ weight: w, done })
    weight += w
    while (weight > init.maxWeight && inFlight.length > 0) await inFlight.shift()?.done
  }
  await written
}

/**
 * A protocol handler that serves each inbound stream with servePipelined and
 * closes it when the peer is done. A stream that fails is logged, as `what`,
 * and aborted: at debug when the peer just went away mid-answer, at warn when
 * it broke the protocol or timed out.
 */
export function pipelinedHandler<R> (what: string, limits: FrameLimits, log: Logger, init: (peer: PeerId) => PipelineInit<R>): (stream: Stream, connection: Connection) => Promise<void> {
  return async (stream, connection) => {
    const peer = connection.remotePeer
    try {
      await servePipelined(new FramedStream(stream, limits), init(peer))
      await stream.close()
    } catch (err) {
      const level = err instanceof StreamClosedError ? 'debug' : 'warn'
      log[level](`${what} stream from peer failed`, { peer: peer.toString(), error: (err as Error).message })
      stream.abort(err as Error)
    }
  }
}
