/**
 * CAR v1 (content archives, https://ipld.io/specs/transport/car/carv1/):
 * export a DAG as Kubo's `ipfs dag export` writes it, with the options of
 * IPFS's Trustless Gateway spec (a path below the root, `dag-scope`,
 * `entity-bytes`); read a CAR as a stream of verified blocks.
 *
 * Export: blocks come through one narrow function (local store first, else
 * the network: the caller decides), depth first, links in order, each block
 * once (by multihash), identity blocks left out (their bytes are in their
 * CID). Nothing is yielded until the path is resolved and the terminal
 * block read, so a caller that awaits the first chunk before answering can
 * still answer 404 or 400; a failure after that cuts the stream short.
 *
 * Import: the CAR is parsed with @ipld/car's streaming decoder, each block
 * checked against its CID; the header and every block are size-capped
 * before they are buffered, so a garbled length cannot make it read a
 * whole stream into memory.
 */
import * as CarBufferWriter from '@ipld/car/buffer-writer'
import { asyncIterableReader, limitReader, readBlockHead, readHeader } from '@ipld/car/decoder'
import * as dagPb from '@ipld/dag-pb'
import { varint } from 'multiformats'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { AbortedError, InvalidArgumentError, InvalidCarError, UnsupportedError } from '../errors.ts'
import { MAX_BLOCK_BYTES, multihashKey, verifyBlock, type AbortOptions, type BlockSource } from './blocks.ts'
import { depthFirst } from './dag.ts'
import { decodeUnixFs, mapOrdered } from './exporter.ts'
import { resolvePath } from './path.ts'

export const CAR_CONTENT_TYPE = 'application/vnd.ipld.car'

/** Verified bytes of a block, or throws (BlockNotFoundError when nobody has it). */
export type GetBlock = (cid: CID, options?: AbortOptions) => Promise<Uint8Array>

/**
 * What of the terminal entity goes into the CAR (Trustless Gateway spec):
 * `block` its root block only; `entity` what it takes to read a UnixFS file
 * whole or to list a directory (for a HAMT: its shards, not its entries; for
 * anything else: the block); `all` the whole DAG below it.
 */
export type DagScope = 'all' | 'entity' | 'block'

/**
 * A byte range of a UnixFS file, both ends inclusive (the spec's
 * `entity-bytes=from:to`); a negative value counts from the end of the file
 * (-1 is the last byte); `to` absent is the end of the file (`*`).
 */
export interface EntityBytes {
  from: number
  to?: number
}

export interface ExportCarOptions extends AbortOptions {
  /** a path below the root (`dir/file` or its segments): the blocks that resolve it come first, then the terminal entity */
  path?: string | string[]
  /** default `all`; `entityBytes` implies `entity` */
  dagScope?: DagScope
  /** only the blocks needed for this byte range of a UnixFS file; ignored when the entity is not a file */
  entityBytes?: EntityBytes
  /** blocks read ahead per level of the DAG (default 8) */
  concurrency?: number
}

/** A block as it goes into or comes out of a CAR. */
export interface CarBlock {
  cid: CID
  bytes: Uint8Array
}

/**
 * The CAR v1 of `root` (the header names `root`), as a stream of chunks.
 * See the module comment for the order and the error behaviour.
 */
export async function * exportCar (getBlock: GetBlock, root: CID, options: ExportCarOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
  const source: BlockSource = { get: getBlock }
  const dagScope = options.dagScope ?? (options.entityBytes != null ? 'entity' : 'all')
  if (!['all', 'entity', 'block'].includes(dagScope)) throw new InvalidArgumentError(`Invalid dag-scope "${String(dagScope)}": expected all, entity or block`)
  if (options.entityBytes != null) checkEntityBytes(options.entityBytes)
  const { cid, blocks: pathBlocks } = await resolvePath(root, options.path, source, options)
  const entity = entityBlocks(cid, source, dagScope, options)
  try {
    // the terminal block: read before anything is sent
    const first = await entity.next()
    yield headerBytes([root])
    const written = new Set<string>()
    const section = (block: CarBlock): Uint8Array | undefined => {
      if (block.cid.multihash.code === identity.code) return undefined
      const key = multihashKey(block.cid)
      if (written.has(key)) return undefined
      written.add(key)
      return sectionBytes(block)
    }
    for (const block of pathBlocks) {
      const bytes = section(block)
      if (bytes != null) yield bytes
    }
    for (let next = first; next.done !== true; next = await entity.next()) {
      const bytes = section(next.value)
      if (bytes != null) yield bytes
    }
  } finally {
    await entity.return()
  }
}

/** The blocks of the terminal entity `cid` for `scope`, its own block first. */
async function * entityBlocks (cid: CID, source: BlockSource, scope: DagScope, options: ExportCarOptions): AsyncGenerator<CarBlock, void, undefined> {
  const concurrency = options.concurrency ?? 8
  if (scope === 'all') {
    yield * blocksOf(depthFirst(cid, source, { signal: options.signal, concurrency }))
    return
  }
  const bytes = await readBlock(source, cid, options)
  if (scope === 'block' || cid.code !== dagPb.code) {
    yield { cid, bytes }
    return
  }
  let node: ReturnType<typeof decodeUnixFs>
  try {
    node = decodeUnixFs(cid, bytes)
  } catch {
    // dag-pb but not UnixFS: the entity is the block
    yield { cid, bytes }
    return
  }
  if (node.kind === 'file') {
    if (options.entityBytes == null) {
      yield * blocksOf(depthFirst(cid, source, { signal: options.signal, concurrency }))
      return
    }
    const range = entityRange(options.entityBytes, Number(node.unixfs.fileSize()))
    if (range == null) {
      // empty, or wholly outside the file: the spec answers as for dag-scope=block
      yield { cid, bytes }
      return
    }
    yield * fileRange({ cid, bytes }, 0, range, source, concurrency, options)
    return
  }
  if (node.kind === 'directory' && node.unixfs.type === 'hamt-sharded-directory') {
    yield * hamtShards({ cid, bytes }, source, concurrency, options)
    return
  }
  yield { cid, bytes }
}

/** depthFirst's visits as blocks (it reads every block unless told `linksOnly`). */
async function * blocksOf (visits: AsyncIterable<{ cid: CID, bytes?: Uint8Array }>): AsyncGenerator<CarBlock, void, undefined> {
  for await (const v of visits) yield { cid: v.cid, bytes: v.bytes as Uint8Array }
}

async function readBlock (source: BlockSource, cid: CID, options: AbortOptions): Promise<Uint8Array> {
  if (cid.multihash.code === identity.code) return cid.multihash.digest
  return await source.get(cid, options)
}

/**
 * `entityBytes` against a file of `size` bytes: the range [start, end) it
 * asks for, clamped to the file; undefined when no byte of the file is in it.
 */
export function entityRange (entityBytes: EntityBytes, size: number): { start: number, end: number } | undefined {
  checkEntityBytes(entityBytes)
  const from = entityBytes.from < 0 ? Math.max(0, size + entityBytes.from) : entityBytes.from
  const to = entityBytes.to == null ? size - 1 : entityBytes.to < 0 ? size + entityBytes.to : Math.min(entityBytes.to, size - 1)
  if (from > to || from >= size) return undefined
  return { start: from, end: to + 1 }
}

/** `from:to` as the spec writes it (`0:*`, `-1024:*`, `499:-1000`). */
export function parseEntityBytes (text: string): EntityBytes {
  const m = /^(-?\d+):(-?\d+|\*)$/.exec(text.trim())
  if (m == null) throw new InvalidArgumentError(`Invalid entity-bytes "${text}": expected FROM:TO (whole numbers, negative from the end; TO may be *)`)
  const range: EntityBytes = { from: Number(m[1]) }
  if (m[2] !== '*') range.to = Number(m[2])
  checkEntityBytes(range)
  return range
}

function checkEntityBytes (r: EntityBytes): void {
  if (!Number.isSafeInteger(r.from) || (r.to != null && !Number.isSafeInteger(r.to))) {
    throw new InvalidArgumentError(`Invalid entity-bytes ${JSON.stringify(r)}: from and to must be whole numbers`)
  }
  if (r.to != null && r.from >= 0 && r.to >= 0 && r.to < r.from) {
    throw new InvalidArgumentError(`Invalid entity-bytes ${r.from}:${r.to}: the last byte is before the first`)
  }
}

/**
 * A file node and, below it, only the nodes and leaves that hold bytes of
 * [range.start, range.end) (by the blockSizes of each node), in order.
 */
async function * fileRange (block: CarBlock, nodeStart: number, range: { start: number, end: number }, source: BlockSource, concurrency: number, options: AbortOptions): AsyncGenerator<CarBlock, void, undefined> {
  yield block
  if (block.cid.code === raw.code) return
  const { node, unixfs, kind } = decodeUnixFs(block.cid, block.bytes)
  if (kind !== 'file') return
  let pos = nodeStart + (unixfs.data?.length ?? 0)
  const wanted: Array<{ cid: CID, start: number }> = []
  for (let i = 0; i < node.Links.length && i < unixfs.blockSizes.length && pos < range.end; i++) {
    const size = Number(unixfs.blockSizes[i])
    if (pos + size > range.start) wanted.push({ cid: node.Links[i].Hash, start: pos })
    pos += size
  }
  const children = mapOrdered(wanted, async child => ({ child, bytes: await readBlock(source, child.cid, options) }), concurrency)
  for await (const { child, bytes } of children) {
    yield * fileRange({ cid: child.cid, bytes }, child.start, range, source, concurrency, options)
  }
}

/** A HAMT directory's shard blocks (what listing it takes), depth first; not its entries. */
async function * hamtShards (block: CarBlock, source: BlockSource, concurrency: number, options: AbortOptions): AsyncGenerator<CarBlock, void, undefined> {
  yield block
  const { node, unixfs } = decodeUnixFs(block.cid, block.bytes)
  if (unixfs.type !== 'hamt-sharded-directory') return
  const padLength = ((unixfs.fanout ?? 256n) - 1n).toString(16).length
  const shards = node.Links.filter(l => l.Name?.length === padLength).map(l => l.Hash)
  const children = mapOrdered(shards, async cid => ({ cid, bytes: await readBlock(source, cid, options) }), concurrency)
  for await (const child of children) yield * hamtShards(child, source, concurrency, options)
}

/** The CAR v1 header naming `roots` (@ipld/car's encoding). */
function headerBytes (roots: CID[]): Uint8Array {
  const writer = CarBufferWriter.createWriter(new ArrayBuffer(CarBufferWriter.headerLength({ roots })), { roots })
  return writer.close()
}

/** One block's section: varint length, CID, bytes (@ipld/car's encoding). */
function sectionBytes (block: CarBlock): Uint8Array {
  const writer = CarBufferWriter.createWriter(new ArrayBuffer(CarBufferWriter.blockLength(block)), { headerSize: 0 })
  writer.write(block)
  return writer.bytes
}

// ---- reading ----

/** Largest CAR header read (a header is a version and a list of root CIDs). */
const MAX_HEADER_BYTES = 1024 * 1024
/** A section is a CID (at most a few dozen bytes for any CID shoal verifies) and the block. */
const MAX_CID_BYTES = 256

export interface ReadCarOptions extends AbortOptions {
  /** blocks larger than this are refused (default MAX_BLOCK_BYTES: what the network moves) */
  maxBlockBytes?: number
}

export interface CarContents {
  version: 1 | 2
  roots: CID[]
  /** the blocks in CAR order, each verified against its CID; an InvalidCarError at the first that is not */
  blocks: AsyncGenerator<CarBlock, void, undefined>
}

/**
 * Open a CAR (v1, or the v1 data inside a v2) from a stream: the header is
 * read at once, the blocks as they are iterated. A stream that is not a CAR,
 * cut short, or garbled is an InvalidCarError saying where; a block whose
 * bytes do not hash to its CID, or with a hash function shoal cannot verify,
 * too. Errors of the stream itself pass through unchanged.
 */
export async function readCar (source: AsyncIterable<Uint8Array>, options: ReadCarOptions = {}): Promise<CarContents> {
  const maxBlockBytes = options.maxBlockBytes ?? MAX_BLOCK_BYTES
  const fromSource = new WeakSet<object>()
  const marked = (async function * () {
    try {
      yield * source
    } catch (err) {
      if (typeof err === 'object' && err != null) fromSource.add(err)
      throw err
    }
  })()
  let reader = asyncIterableReader(marked)
  let count = 0
  const wrap = (err: unknown, what: string): unknown => {
    if (err instanceof InvalidCarError || (typeof err === 'object' && err != null && fromSource.has(err))) return err
    const message = err instanceof Error ? err.message : String(err)
    return new InvalidCarError(`Invalid CAR: ${what}: ${message === 'Unexpected end of data' ? 'the data ends early (cut short?)' : message} (at byte ${reader.pos}, after ${count} block${count === 1 ? '' : 's'})`, { cause: err })
  }
  let header
  try {
    const head = await reader.upTo(8)
    if (head.length === 0) throw new InvalidCarError('Invalid CAR: it is empty')
    const [length] = varint.decode(head)
    if (length > MAX_HEADER_BYTES) throw new InvalidCarError(`Invalid CAR: its header claims ${length} bytes (the limit is ${MAX_HEADER_BYTES}): not a CAR?`)
    header = await readHeader(reader)
    if (header.version === 2) reader = limitReader(reader, header.dataSize - (reader.pos - header.dataOffset))
  } catch (err) {
    throw wrap(err, 'cannot read its header')
  }
  const signal = options.signal
  const blocks = async function * (): AsyncGenerator<CarBlock, void, undefined> {
    while (true) {
      let block: CarBlock
      try {
        if (signal?.aborted === true) throw new AbortedError('Reading the CAR was aborted')
        const head = await reader.upTo(8)
        if (head.length === 0) return
        const [length] = varint.decode(head)
        if (length > maxBlockBytes + MAX_CID_BYTES) throw new InvalidCarError(`Invalid CAR: block ${count + 1} claims ${length} bytes, over the limit of ${maxBlockBytes} (at byte ${reader.pos})`)
        const { cid, blockLength } = await readBlockHead(reader)
        if (blockLength > maxBlockBytes) throw new InvalidCarError(`Invalid CAR: block ${count + 1} "${cid}" has ${blockLength} bytes, over the limit of ${maxBlockBytes}`)
        // the CID gets bytes of its own: as read, it is a view into the reader's buffer, and
        // whoever keeps it (the store's pending index) would keep that whole buffer alive
        block = { cid: CID.decode(cid.bytes.slice()), bytes: await reader.exactly(blockLength, true) }
      } catch (err) {
        if (err instanceof AbortedError) throw err
        throw wrap(err, `cannot read block ${count + 1}`)
      }
      count++
      let ok: boolean
      try {
        ok = await verifyBlock(block.cid, block.bytes)
      } catch (err) {
        if (err instanceof UnsupportedError) throw new InvalidCarError(`Refusing the CAR: block ${count} "${block.cid}" uses a hash function shoal cannot verify (only sha2-256)`, { cause: err })
        throw err
      }
      if (!ok) throw new InvalidCarError(`Refusing the CAR: block ${count} "${block.cid}" does not match its CID (its bytes hash to something else)`)
      yield block
    }
  }
  return { version: header.version as 1 | 2, roots: header.roots, blocks: blocks() }
}
