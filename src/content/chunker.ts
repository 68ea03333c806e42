/**
 * Chunker specs (`size-N`, `fastcdc`, `fastcdc-MIN-AVG-MAX`, in the style of
 * Kubo's `--chunker`) and the chunkers they make, in the shape
 * ipfs-unixfs-importer's `chunker` option wants:
 * `(source: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array>`.
 */
import { InvalidArgumentError } from '../errors.ts'
import { Buffer } from 'node:buffer'
import { FASTCDC_DEFAULTS, fastcdc, validateFastCdcParams } from './fastcdc.ts'

/** `size-N` (fixed N-byte chunks) or `fastcdc` / `fastcdc-MIN-AVG-MAX`. */
export type ChunkerSpec = string

export type ChunkerConfig =
  | { type: 'fixed', size: number }
  | { type: 'fastcdc', minSize: number, avgSize: number, maxSize: number }

export type Chunker = (source: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array>

/** Kubo's default chunker, `size-262144`. */
export const DEFAULT_CHUNKER: ChunkerSpec = 'size-262144'

/** No chunk may be larger than 1 MiB (Kubo's limit: any IPFS node accepts the blocks). */
export const MAX_CHUNK_SIZE = 1024 * 1024

const INTEGER = /^[0-9]{1,16}$/

/** Parses a chunker spec; throws InvalidArgumentError saying what is wrong. */
export function parseChunker (spec: ChunkerSpec): ChunkerConfig {
  if (typeof spec !== 'string') {
    throw new InvalidArgumentError(`Invalid chunker ${String(spec)}: expected a string such as "size-262144" or "fastcdc"`)
  }
  const parts = spec.trim().split('-')
  if (parts[0] === 'size') {
    if (parts.length !== 2 || !INTEGER.test(parts[1])) {
      throw new InvalidArgumentError(`Invalid chunker "${spec}": expected "size-N" with N a number of bytes, e.g. "size-262144"`)
    }
    const size = Number(parts[1])
    if (size < 1 || size > MAX_CHUNK_SIZE) {
      throw new InvalidArgumentError(`Invalid chunker "${spec}": the chunk size must be between 1 and ${MAX_CHUNK_SIZE} bytes`)
    }
    return { type: 'fixed', size }
  }
  if (parts[0] === 'fastcdc') {
    if (parts.length === 1) return { type: 'fastcdc', ...FASTCDC_DEFAULTS }
    if (parts.length !== 4 || !parts.slice(1).every(p => INTEGER.test(p))) {
      throw new InvalidArgumentError(`Invalid chunker "${spec}": expected "fastcdc" or "fastcdc-MIN-AVG-MAX" in bytes, e.g. "fastcdc-65536-262144-1048576"`)
    }
    const [minSize, avgSize, maxSize] = parts.slice(1).map(Number)
    try {
      return { type: 'fastcdc', ...validateFastCdcParams({ minSize, avgSize, maxSize }) }
    } catch (err) {
      throw new InvalidArgumentError(`Invalid chunker "${spec}": ${(err as Error).message}`, { cause: err })
    }
  }
  throw new InvalidArgumentError(`Invalid chunker "${spec}": expected "size-N", "fastcdc" or "fastcdc-MIN-AVG-MAX"`)
}

/** The canonical spec of a config (what `parseChunker` reads back). */
export function formatChunker (config: ChunkerConfig): ChunkerSpec {
  return config.type === 'fixed'
    ? `size-${config.size}`
    : `fastcdc-${config.minSize}-${config.avgSize}-${config.maxSize}`
}

export interface ChunkerOptions {
  /**
   * The input buffers are the chunker's to free: nothing else holds them or a
   * view of them (ImportOptions.freeInput, e.g. the pieces of an HTTP upload).
   * The fixed-size chunker then detaches each input once all its bytes are
   * copied into blocks, which returns its memory at once; left to the garbage
   * collector, a 256 MiB upload's pieces cost the daemon several full GCs
   * (V8 counts external memory allocated since the last full GC against the
   * old generation's limit). The FastCDC chunker ignores it (it frees nothing).
   */
  freeInput?: boolean
}

export function createChunker (config: ChunkerConfig, options: ChunkerOptions = {}): Chunker {
  return config.type === 'fixed' ? fixedSize(config.size, options) : fastcdc(config)
}

/**
 * Fixed-size chunks, the same cuts as ipfs-unixfs-importer's `fixedSize` (and
 * Kubo's `size-N`): every chunk is `size` bytes except the last; an empty
 * input gives one empty chunk.
 *
 * Copies: a chunk inside one input buffer is a view of it (no copy). A chunk
 * that spans buffers is filled by copying each buffer's bytes straight into a
 * new buffer of `size` bytes as they come, which becomes the chunk: one
 * allocation per chunk, no list of pieces to concatenate. A chunk is never
 * written to once yielded (the sink keeps it until it is stored and
 * replicated). The last chunk of a file may be a view of the start of such a
 * buffer. With `freeInput`, an input is freed as soon as all its bytes are
 * copied, unless a chunk was yielded as a view of it.
 */
export function fixedSize (size: number, options: ChunkerOptions = {}): Chunker {
  if (!Number.isSafeInteger(size) || size < 1 || size > MAX_CHUNK_SIZE) {
    throw new InvalidArgumentError(`Invalid chunk size ${size}: it must be between 1 and ${MAX_CHUNK_SIZE} bytes`)
  }
  const freeInput = options.freeInput === true
  return async function * fixedSizeChunker (source) {
    /** the chunk being filled from several inputs (ours until yielded) */
    let block: Uint8Array | undefined
    let filled = 0
    /**
     * the last input's bytes not in a chunk yet, left as a view: copied only
     * when more input comes (a file's last chunk, or a small file, may be just that)
     */
    let tail: { bytes: Uint8Array, input: Uint8Array, viewed: boolean } | undefined
    let emitted = false
    for await (const input of source) {
      const n = input.length
      if (n === 0) continue
      let pos = 0
      /** a chunk was yielded as a view of `input`: it must not be freed */
      let viewed = false
      if (tail != null) {
        block = allocUnsafe(size)
        block.set(tail.bytes)
        filled = tail.bytes.length
        if (freeInput && !tail.viewed) free(tail.input)
        tail = undefined
      }
      if (block != null) {
        const take = Math.min(size - filled, n)
        block.set(take === n ? input : input.subarray(0, take), filled)
        filled += take
        pos = take
        if (filled === size) {
          const full = block
          block = undefined
          filled = 0
          emitted = true
          yield full
        }
      }
      while (n - pos >= size) {
        viewed = true
        emitted = true
        yield input.subarray(pos, pos + size)
        pos += size
      }
      if (pos < n) {
        tail = { bytes: pos === 0 ? input : input.subarray(pos), input, viewed }
      } else if (freeInput && !viewed) {
        free(input)
      }
    }
    if (tail != null) yield tail.bytes
    else if (block != null) yield block.subarray(0, filled)
    else if (!emitted) yield new Uint8Array(0)
  }
}

/** An uninitialized buffer (every byte is written before it is yielded): no zero-filling. */
function allocUnsafe (length: number): Uint8Array {
  return Buffer.allocUnsafeSlow(length)
}

/**
 * Gives `bytes`' memory back now by detaching its ArrayBuffer (the buffer
 * becomes empty), when `bytes` spans the whole of it: a view of part of a
 * buffer may share it with other data (Node's pool of small Buffers), so
 * that is left to the garbage collector.
 */
export function free (bytes: Uint8Array): void {
  const buffer = bytes.buffer
  if (!(buffer instanceof ArrayBuffer) || buffer.resizable || bytes.byteOffset !== 0 || bytes.byteLength !== buffer.byteLength || bytes.byteLength === 0) return
  buffer.transfer(0)
}
