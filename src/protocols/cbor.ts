/**
 * CBOR for protocol frames without copying block bytes. cborg copies every
 * byte string it encodes into its output and every one it decodes out of its
 * input; for a 256 KiB block that was two extra copies on the sender and one
 * on the receiver, and the garbage they made was a quarter of a serving
 * node's CPU. Here the common shapes (maps and arrays of text, non-negative
 * safe integers, booleans and byte strings) are encoded as chunks that refer
 * to the caller's byte strings, and decoded into views of the frame body.
 * Anything else goes to cborg, so the bytes on the wire, and what is
 * accepted or refused, are exactly cborg's (canonical, strict).
 */
import { Buffer } from 'node:buffer'
import * as cborg from 'cborg'

const utf8 = new TextEncoder()
const utf8Strict = new TextDecoder('utf-8', { fatal: true })

/** Byte strings at least this long are referenced (encoding) or viewed (decoding), not copied. */
const REFERENCE_BYTES = 512

class Unsupported extends Error {}

/** `value` as CBOR, in chunks (byte strings by reference); the same bytes as cborg.encode. */
export function encodeCbor (value: unknown): Uint8Array[] {
  const out = new ChunkWriter(0)
  try {
    writeValue(out, value, 0)
  } catch (err) {
    if (!(err instanceof Unsupported)) throw err
    return [cborg.encode(value)]
  }
  return out.finish()
}

/**
 * `value` as CBOR after its length as an unsigned varint (a protocol frame,
 * codec.ts), in chunks as encodeCbor; the prefix is written into the first
 * chunk, not a buffer of its own. `length` is the CBOR's.
 */
export function encodeCborWithLength (value: unknown): { chunks: Uint8Array[], length: number } {
  const out = new ChunkWriter(MAX_VARINT_BYTES)
  try {
    writeValue(out, value, 0)
  } catch (err) {
    if (!(err instanceof Unsupported)) throw err
    const body = cborg.encode(value)
    return { chunks: [varintBytes(body.byteLength), body], length: body.byteLength }
  }
  return out.finishWithLength()
}

/** 2^56 and more is no frame length (codec.ts reads at most 8 varint bytes) */
const MAX_VARINT_BYTES = 8

function varintLength (n: number): number {
  let bytes = 1
  while (n >= 0x80) { n = Math.floor(n / 0x80); bytes++ }
  return bytes
}

function writeVarint (n: number, into: Uint8Array, at: number): void {
  while (n >= 0x80) {
    into[at++] = (n % 0x80) | 0x80
    n = Math.floor(n / 0x80)
  }
  into[at] = n
}

function varintBytes (n: number): Uint8Array {
  const out = new Uint8Array(varintLength(n))
  writeVarint(n, out, 0)
  return out
}

/**
 * Map keys as UTF-8, kept: a protocol's keys are a handful of short strings
 * sent in every frame. Bounded, so that maps with other keys cannot grow it.
 */
const keyBytes = new Map<string, Uint8Array>()
const KEY_CACHE_ENTRIES = 256

function encodeKey (key: string): Uint8Array {
  let bytes = keyBytes.get(key)
  if (bytes == null) {
    bytes = utf8.encode(key)
    if (keyBytes.size < KEY_CACHE_ENTRIES && key.length <= 32) keyBytes.set(key, bytes)
  }
  return bytes
}

/**
 * Decode one CBOR item that fills `body`; long byte strings are views of
 * `body` (which the caller must own and not reuse). Like cborg.decode with
 * { strict, rejectDuplicateMapKeys, useMaps: false }, which handles, and
 * refuses, everything this does not take.
 */
export function decodeCbor (body: Uint8Array): unknown {
  try {
    const reader = new Reader(body)
    const value = reader.value(0)
    if (reader.pos === body.length) return value
  } catch (err) {
    if (!(err instanceof Unsupported)) throw err
  }
  return cborg.decode(body, { strict: true, rejectDuplicateMapKeys: true, useMaps: false })
}

const MAX_DEPTH = 8

/**
 * The small parts of a value (heads, numbers, strings, short byte strings)
 * are written into `head`, a buffer from Node's pool of small buffers (one
 * allocation per few dozen frames, not one per frame); long byte strings are
 * chunks of their own between them. `reserve` bytes at the start are left for
 * a length prefix.
 */
class ChunkWriter {
  private readonly chunks: Uint8Array[] = []
  private head: Uint8Array = Buffer.allocUnsafe(256)
  private used: number
  private readonly reserve: number
  /** bytes written, the reserve not counted */
  private length = 0

  constructor (reserve: number) {
    this.reserve = reserve
    this.used = reserve
  }

  byte (b: number): void {
    if (this.used === this.head.length) this.grow(1)
    this.head[this.used++] = b
    this.length++
  }

  /** a text string: encoded straight into the head */
  text (s: string): void {
    // the byte length is known once encoded: encode after room for the longest
    // head (1 + 4 bytes: a frame's strings are far below 4 GiB), then close the gap
    const room = 5
    if (this.used + room + s.length * 3 > this.head.length) this.grow(room + s.length * 3)
    const at = this.used + room
    const { written } = utf8.encodeInto(s, this.head.subarray(at))
    this.start(3, written)
    this.head.copyWithin(this.used, at, at + written)
    this.used += written
    this.length += written
  }

  /** a CBOR head: major type and argument, in the shortest form */
  start (major: number, n: number): void {
    const m = major << 5
    if (n < 24) {
      this.byte(m | n)
    } else if (n < 0x100) {
      this.byte(m | 24); this.byte(n)
    } else if (n < 0x10000) {
      this.byte(m | 25); this.byte(n >>> 8); this.byte(n & 0xff)
    } else if (n < 0x100000000) {
      this.byte(m | 26); for (let s = 24; s >= 0; s -= 8) this.byte((n >>> s) & 0xff)
    } else {
      this.byte(m | 27)
      const hi = Math.floor(n / 0x100000000)
      const lo = n >>> 0
      for (let s = 24; s >= 0; s -= 8) this.byte((hi >>> s) & 0xff)
      for (let s = 24; s >= 0; s -= 8) this.byte((lo >>> s) & 0xff)
    }
  }

  bytes (b: Uint8Array): void {
    this.length += b.byteLength
    if (b.byteLength >= REFERENCE_BYTES) {
      this.flushHead()
      this.chunks.push(b)
      return
    }
    if (this.used + b.byteLength > this.head.length) this.grow(b.byteLength)
    this.head.set(b, this.used)
    this.used += b.byteLength
  }

  finish (): Uint8Array[] {
    this.flushHead()
    return this.chunks
  }

  /** The chunks with the length (varint) in the reserve before the first one. */
  finishWithLength (): { chunks: Uint8Array[], length: number } {
    this.flushHead()
    const first = this.chunks[0]
    const prefix = varintLength(this.length)
    if (prefix > this.reserve) throw new RangeError(`Cannot frame ${this.length} bytes`)
    writeVarint(this.length, first, this.reserve - prefix)
    this.chunks[0] = first.subarray(this.reserve - prefix)
    return { chunks: this.chunks, length: this.length }
  }

  private flushHead (): void {
    // (the first chunk holds the reserve and at least the value's first head byte)
    if (this.used === 0) return
    this.chunks.push(this.head.subarray(0, this.used))
    this.head = this.head.subarray(this.used)
    this.used = 0
  }

  private grow (need: number): void {
    const bigger = Buffer.allocUnsafe(Math.max(this.head.length * 2, this.used + need + 256))
    bigger.set(this.head.subarray(0, this.used))
    this.head = bigger
  }
}

/** canonical key order, as cborg: shorter first, then bytewise */
function compareKeys (a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return a.length - b.length
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i]
  return 0
}

function writeValue (out: ChunkWriter, value: unknown, depth: number): void {
  if (depth > MAX_DEPTH) throw new Unsupported()
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0 || Object.is(value, -0)) throw new Unsupported()
    out.start(0, value)
  } else if (typeof value === 'string') {
    out.text(value)
  } else if (typeof value === 'boolean') {
    out.byte(value ? 0xf5 : 0xf4)
  } else if (value instanceof Uint8Array) {
    out.start(2, value.byteLength)
    out.bytes(value)
  } else if (Array.isArray(value)) {
    out.start(4, value.length)
    for (const v of value) writeValue(out, v, depth + 1)
  } else if (value != null && Object.getPrototypeOf(value) === Object.prototype) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [encodeKey(k), v] as const)
      .sort((a, b) => compareKeys(a[0], b[0]))
    // cborg writes a present-but-undefined entry; leave that to it
    if (entries.length !== Object.keys(value).length) throw new Unsupported()
    out.start(5, entries.length)
    for (const [k, v] of entries) {
      out.start(3, k.byteLength)
      out.bytes(k)
      writeValue(out, v, depth + 1)
    }
  } else {
    throw new Unsupported()
  }
}

class Reader {
  pos = 0
  private readonly body: Uint8Array

  constructor (body: Uint8Array) {
    this.body = body
  }

  /** the argument of a head of `major`; only shortest forms (else cborg judges) */
  private argument (info: number): number {
    if (info < 24) return info
    let n: number
    let min: number
    if (info === 24) {
      n = this.take(1)[0]; min = 24
    } else if (info === 25) {
      const t = this.take(2); n = t[0] * 0x100 + t[1]; min = 0x100
    } else if (info === 26) {
      const t = this.take(4); n = ((t[0] << 24) >>> 0) + (t[1] << 16) + (t[2] << 8) + t[3]; min = 0x10000
    } else if (info === 27) {
      const t = this.take(8)
      const hi = ((t[0] << 24) >>> 0) + (t[1] << 16) + (t[2] << 8) + t[3]
      const lo = ((t[4] << 24) >>> 0) + (t[5] << 16) + (t[6] << 8) + t[7]
      if (hi >= 0x200000) throw new Unsupported() // beyond 2^53
      n = hi * 0x100000000 + lo; min = 0x100000000
    } else {
      throw new Unsupported() // indefinite lengths, reserved
    }
    if (n < min) throw new Unsupported()
    return n
  }

  private take (n: number): Uint8Array {
    if (this.pos + n > this.body.length) throw new Unsupported()
    const view = new Uint8Array(this.body.buffer, this.body.byteOffset + this.pos, n)
    this.pos += n
    return view
  }

  value (depth: number): unknown {
    if (depth > MAX_DEPTH || this.pos >= this.body.length) throw new Unsupported()
    const initial = this.body[this.pos++]
    const major = initial >> 5
    const info = initial & 0x1f
    switch (major) {
      case 0: return this.argument(info)
      case 2: {
        // long byte strings are views (no copy); short ones are copied, so a
        // CID kept for long does not keep a whole frame alive
        const bytes = this.take(this.argument(info))
        return bytes.byteLength >= REFERENCE_BYTES ? bytes : bytes.slice()
      }
      case 3: return this.text(info)
      case 4: {
        const n = this.argument(info)
        if (n > this.body.length - this.pos) throw new Unsupported()
        const items: unknown[] = []
        for (let i = 0; i < n; i++) items.push(this.value(depth + 1))
        return items
      }
      case 5: {
        const n = this.argument(info)
        if (n > this.body.length - this.pos) throw new Unsupported()
        const map: Record<string, unknown> = {}
        for (let i = 0; i < n; i++) {
          if (this.pos >= this.body.length || this.body[this.pos] >> 5 !== 3) throw new Unsupported()
          const key = this.text(this.body[this.pos++] & 0x1f)
          if (key === '__proto__' || Object.hasOwn(map, key)) throw new Unsupported()
          map[key] = this.value(depth + 1)
        }
        return map
      }
      case 7:
        if (info === 20) return false
        if (info === 21) return true
        throw new Unsupported()
      default:
        throw new Unsupported()
    }
  }

  private text (info: number): string {
    const bytes = this.take(this.argument(info))
    try {
      return utf8Strict.decode(bytes)
    } catch {
      throw new Unsupported()
    }
  }
}
