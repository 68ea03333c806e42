/**
 * Chunker specs (`size-N`, `fastcdc`, `fastcdc-MIN-AVG-MAX`, in the style of
 * Kubo's `--chunker`) and the chunkers they make, in the shape
 * ipfs-unixfs-importer's `chunker` option wants:
 * `(source: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array>`.
 */
import { InvalidArgumentError } from '../errors.ts'
import { concatBytes, FASTCDC_DEFAULTS, fastcdc, validateFastCdcParams } from './fastcdc.ts'

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

export function createChunker (config: ChunkerConfig): Chunker {
  return config.type === 'fixed' ? fixedSize(config.size) : fastcdc(config)
}

/**
 * Fixed-size chunks, the same cuts as ipfs-unixfs-importer's `fixedSize` (and
 * Kubo's `size-N`): every chunk is `size` bytes except the last; an empty
 * input gives one empty chunk. A chunk inside one input buffer is a view of
 * it; one that spans buffers is copied once into a buffer of its exact size.
 */
export function fixedSize (size: number): Chunker {
  if (!Number.isSafeInteger(size) || size < 1 || size > MAX_CHUNK_SIZE) {
    throw new InvalidArgumentError(`Invalid chunk size ${size}: it must be between 1 and ${MAX_CHUNK_SIZE} bytes`)
  }
  return async function * fixedSizeChunker (source) {
    let pending: Uint8Array[] = []
    let pendingLength = 0
    let emitted = false
    for await (const buf of source) {
      const n = buf.length
      let pos = 0
      if (pendingLength > 0) {
        const take = Math.min(size - pendingLength, n)
        pending.push(take === n ? buf : buf.subarray(0, take))
        pendingLength += take
        pos = take
        if (pendingLength < size) continue
        yield concatBytes(pending, pendingLength)
        emitted = true
        pending = []
        pendingLength = 0
      }
      while (n - pos >= size) {
        yield buf.subarray(pos, pos + size)
        emitted = true
        pos += size
      }
      if (pos < n) {
        pending.push(pos === 0 ? buf : buf.subarray(pos))
        pendingLength = n - pos
      }
    }
    if (pendingLength > 0 || !emitted) yield concatBytes(pending, pendingLength)
  }
}
