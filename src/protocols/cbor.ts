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
import * as cborg from 'cborg'

const utf8 = new TextEncoder()
const utf8Strict = new TextDecoder('utf-8', { fatal: true })

/** Byte strings at least this long are referenced (encoding) or viewed (decoding), not copied. */
const REFERENCE_BYTES = 512

class Unsupported extends Error {}

/** `value` as CBOR, in chunks (byte strings by reference); the same bytes as cborg.encode. */
export function encodeCbor (value: unknown): Uint8Array[] {
  const out = new ChunkWriter()
  try {
    writeValue(out, value, 0)
  } catch (err) {
    if (!(err instanceof Unsupported)) throw err
    return [cborg.encode(value)]
  }
  return out.finish()
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

class ChunkWriter {
  private readonly chunks: Uint8Array[] = []
  private head = new Uint8Array(256)
  private used = 0

  byte (b: number): void {
    if (this.used === this.head.length) this.grow(1)
    this.head[this.used++] = b
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

  private flushHead (): void {
    if (this.used === 0) return
    this.chunks.push(this.head.subarray(0, this.used))
    this.head = this.head.subarray(this.used)
    this.used = 0
  }

  private grow (need: number): void {
    const bigger = new Uint8Array(Math.max(this.head.length * 2, this.used + need + 256))
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
    const b = utf8.encode(value)
    out.start(3, b.byteLength)
    out.bytes(b)
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
      .map(([k, v]) => [utf8.encode(k), v] as const)
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
