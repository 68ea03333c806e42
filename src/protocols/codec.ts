/**
 * The wire format of every shoal protocol: frames of one unsigned-varint
 * length followed by that many bytes of CBOR (a map with a string `t`, the
 * message type). Explicit limits: a frame longer than `maxFrameBytes` is
 * refused before it is read, and a peer that sends more than
 * `maxBufferBytes` ahead of the reader is cut off.
 */
import { byteStream } from '@libp2p/utils'
import type { ByteStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import * as varint from 'uint8-varint'
import { ProtocolError, StreamClosedError } from '../errors.ts'
import { decodeCbor, encodeCborWithLength } from './cbor.ts'
import type { StreamFlow } from './flow.ts'

export interface FrameLimits {
  /** largest frame accepted or sent */
  maxFrameBytes: number
  /** most bytes buffered from the peer ahead of the reader */
  maxBufferBytes: number
}

export interface ReadOptions {
  signal?: AbortSignal
}

/**
 * Encode one message as a frame: the length prefix, then the CBOR body, in
 * chunks (byte strings not copied; the prefix shares the first chunk).
 */
export function encodeFrame (message: object, maxFrameBytes = Infinity): Uint8Array[] {
  const { chunks, length } = encodeCborWithLength(message)
  if (length > maxFrameBytes) throw new ProtocolError(`Refusing to send a ${length}-byte frame: the limit is ${maxFrameBytes}`)
  return chunks
}

/** One decoded frame: a CBOR map with a string type `t`. */
export type Frame = Record<string, unknown> & { t: string }

/** Decode the CBOR body of one frame into a message with a string type `t`. */
export function decodeFrameBody (body: Uint8Array): Frame {
  let value: unknown
  try {
    value = decodeCbor(body)
  } catch (err) {
    throw new ProtocolError(`Malformed frame: ${(err as Error).message}`)
  }
  if (typeof value !== 'object' || value == null || Array.isArray(value) || typeof (value as { t?: unknown }).t !== 'string') {
    throw new ProtocolError('Malformed frame: expected a map with a string "t"')
  }
  return value as Frame
}

/** Buffers of frames read by FramedStream, each holding one frame and nothing else. */
const releasable = new WeakSet<ArrayBufferLike>()
/** Smaller copies may come from Node's shared buffer pool: never released. */
const RELEASE_MIN_BYTES = 64 * 1024

/**
 * Free at once the buffer of a large frame that FramedStream read, given any
 * byte string decoded from it: every view of that frame becomes empty. Only
 * for a frame nothing will read again. A receiver of large frames that keeps
 * them for a while (stored, then acknowledged) would otherwise leave them to
 * a full GC. Does nothing for any other bytes.
 */
export function releaseFrame (view: Uint8Array): void {
  const buffer = view.buffer
  if (buffer instanceof ArrayBuffer && releasable.delete(buffer)) buffer.transfer(0)
}

/** A libp2p stream read and written as frames. */
export class FramedStream {
  readonly stream: Stream
  private readonly bytes: ByteStream<Stream>
  private readonly limits: FrameLimits
  private readonly flow?: StreamFlow
  /** frame bytes read and written so far (length prefixes included) */
  readonly traffic = { read: 0, written: 0 }

  /** `flow`: the inbound flow control of this stream (flow.ts), told of every read */
  constructor (stream: Stream, limits: FrameLimits, flow?: StreamFlow) {
    this.stream = stream
    this.limits = limits
    this.flow = flow
    this.bytes = byteStream(stream, { maxBufferSize: limits.maxBufferBytes })
  }

  /** `n` bytes, the flow control told that the reader waits for them, then that they were read. */
  private async take (n: number, options: ReadOptions): Promise<Uint8ArrayList> {
    this.flow?.want(n)
    let got: Uint8ArrayList
    try {
      got = await this.bytes.read({ bytes: n, signal: options.signal })
    } catch (err) {
      this.flow?.want(0)
      throw err
    }
    this.flow?.read(got.byteLength) // (no longer waiting, too)
    return got
  }

  /** The next message, or null when the peer closed its side cleanly between frames. */
  async read (options: ReadOptions = {}): Promise<Frame | null> {
    // unsigned varint, read a byte at a time (at most 8 bytes: 2^56)
    let length = 0
    for (let i = 0; ; i++) {
      if (i === 8) throw new ProtocolError('Malformed frame: length prefix too long')
      let byte: number
      try {
        const one = await this.take(1, options)
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
    const body = await this.take(length, options)
    this.traffic.read += length + varint.encodingLength(length)
    // always one copy into a new buffer, so the decoded byte strings (views)
    // never share a buffer that lower layers own
    const copy = body.slice()
    if (copy.byteLength >= RELEASE_MIN_BYTES && copy.byteOffset === 0 && copy.buffer.byteLength === copy.byteLength) releasable.add(copy.buffer)
    return decodeFrameBody(copy)
  }

  async write (message: object, options: ReadOptions = {}): Promise<void> {
    await this.writeFrame(encodeFrame(message, this.limits.maxFrameBytes), options)
  }

  /** Write one encoded frame (encodeFrame's chunks). */
  async writeFrame (chunks: Uint8Array[], options: ReadOptions = {}): Promise<void> {
    // one write per frame, so that concurrent writers never interleave (a
    // frame of one chunk, most of those without a block, needs no list)
    const frame = chunks.length === 1 ? chunks[0] : new Uint8ArrayList(...chunks)
    this.traffic.written += frame.byteLength
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
