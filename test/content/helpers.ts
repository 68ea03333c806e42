/**
 * Helpers for the content tests: in-memory block stores, deterministic bytes.
 */
import crypto from 'node:crypto'
import { BlockNotFoundError } from '../../src/errors.ts'
import type { AbortOptions, BlockSink, BlockSource } from '../../src/content/blocks.ts'
import type { CID } from 'multiformats/cid'

/** Stores blocks in a Map (copies them, so views of input buffers are not kept alive). */
export class MemoryBlocks implements BlockSink, BlockSource {
  readonly blocks = new Map<string, Uint8Array>()
  puts = 0
  gets = 0

  async put (cid: CID, bytes: Uint8Array, _options?: AbortOptions): Promise<void> {
    this.puts++
    const key = cid.toString()
    if (!this.blocks.has(key)) this.blocks.set(key, bytes.slice())
  }

  async get (cid: CID, options?: AbortOptions): Promise<Uint8Array> {
    options?.signal?.throwIfAborted()
    this.gets++
    const bytes = this.blocks.get(cid.toString())
    if (bytes == null) throw new BlockNotFoundError(cid.toString())
    return bytes
  }

  delete (cid: CID | string): void {
    this.blocks.delete(cid.toString())
  }

  /** total bytes of distinct blocks */
  get bytes (): number {
    let n = 0
    for (const b of this.blocks.values()) n += b.length
    return n
  }
}

/** Remembers which CIDs it saw, keeps no bytes: counts new blocks across imports. */
export class CountingSink implements BlockSink {
  readonly seen = new Set<string>()
  puts = 0

  async put (cid: CID): Promise<void> {
    this.puts++
    this.seen.add(cid.toString())
  }
}

/** `length` pseudo-random bytes from `seed` (AES-256-CTR keystream: fast, stable everywhere). */
export function keystream (seed: string, length: number): Uint8Array {
  const key = crypto.createHash('sha256').update(seed).digest()
  const cipher = crypto.createCipheriv('aes-256-ctr', key, Buffer.alloc(16))
  const out = new Uint8Array(length)
  const zeros = Buffer.alloc(Math.min(length, 1 << 20))
  let offset = 0
  while (offset < length) {
    const n = Math.min(zeros.length, length - offset)
    out.set(cipher.update(zeros.subarray(0, n)), offset)
    offset += n
  }
  return out
}

/** `bytes` cut into pieces of `size` (views, no copies). */
export function * pieces (bytes: Uint8Array, size: number): Generator<Uint8Array> {
  if (bytes.length === 0) return
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size)
}

/** The same as `pieces` but as an async stream of varying sizes (taken from `sizes` in turn). */
export async function * stream (bytes: Uint8Array, sizes: number[] = [65536]): AsyncGenerator<Uint8Array> {
  let i = 0
  let k = 0
  while (i < bytes.length) {
    const n = sizes[k++ % sizes.length]
    yield bytes.subarray(i, i + n)
    i += n
  }
}

export async function concatStream (source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  let length = 0
  for await (const p of source) {
    parts.push(p)
    length += p.length
  }
  const out = new Uint8Array(length)
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}

export async function collect<T> (source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of source) out.push(x)
  return out
}

export function sha256hex (bytes: Uint8Array): string {
  return crypto.createHash('sha256').update(bytes).digest('hex')
}

/** `n` bytes where byte i is i % 251 (the brief's golden 1 MiB file). */
export function mod251 (n: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = i % 251
  return out
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s)

/** Asserts that `promise` rejects with an error named `name`; returns it. */
export async function rejectsWith (promise: Promise<unknown> | (() => Promise<unknown>), name: string, message?: RegExp): Promise<Error> {
  try {
    await (typeof promise === 'function' ? promise() : promise)
  } catch (err) {
    const e = err as Error
    if (e.name !== name) throw new Error(`Expected ${name}, got ${e.name}: ${e.message}`, { cause: e })
    if (message != null && !message.test(e.message)) throw new Error(`Expected a message matching ${message}, got "${e.message}"`, { cause: e })
    return e
  }
  throw new Error(`Expected ${name}, but nothing was thrown`)
}
