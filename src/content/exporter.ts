/**
 * Reading UnixFS DAGs back: stat, cat (byte ranges), ls and walk (a whole tree,
 * for `shoal get CID -o PATH`).
 *
 * HAMT-sharded directories are listed with ipfs-unixfs-exporter. File content
 * is read by this module's own walk of the file DAG: the exporter's file reader
 * fetches every wanted child of a node at once and pushes the bytes into an
 * unbounded queue whatever the consumer's pace, so a slow reader of a large
 * file would hold the file in memory. Here the walk is pulled by the consumer:
 * at most `blockReadConcurrency` blocks per level of the DAG are fetched ahead,
 * in order, and each byte is yielded as a view of its block (no copies).
 * Sizes are checked on the way (each child against its parent's blockSizes),
 * so a DAG that disagrees with itself fails instead of yielding wrong bytes.
 *
 * Errors: BlockNotFoundError, CorruptBlockError and anything else the source
 * throws pass through unchanged; a node that is not UnixFS (another codec, a
 * dag-pb node without UnixFS data, inconsistent sizes, an entry name that
 * cannot be a file name) is a NotUnixFsError; asking for the bytes of a
 * directory or the entries of a file is an InvalidArgumentError.
 */
import * as dagPb from '@ipld/dag-pb'
import { exporter as unixfsExporter, type ReadableStorage } from 'ipfs-unixfs-exporter'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { AbortedError, InvalidArgumentError, NotUnixFsError } from '../errors.ts'
import { parseCid, type AbortOptions, type BlockSource } from './blocks.ts'

export type ContentType = 'file' | 'directory' | 'raw' | 'symlink'

export interface ContentStat {
  cid: string
  /** `raw`: a file held in one raw block (CIDv1 single-chunk files, raw leaves) */
  type: ContentType
  /** file bytes (file, raw), the cumulative DAG size (directory), the target's length in bytes (symlink) */
  size: number
  /** bytes of the root block plus the sizes its links declare: what the whole DAG takes */
  cumulativeSize: number
  /** bytes of the root block */
  blockSize: number
  /** links out of the root block (Kubo's "ChildBlocks"; for a directory, its entries or shards) */
  blocks: number
  /** directories: whether the root is a HAMT shard */
  sharded?: boolean
  /** UnixFS mode (permission bits; 0644 / 0755 when the node has none); absent for raw */
  mode?: number
  mtime?: Date
  /** symlinks: the target */
  target?: string
}

export interface CatOptions extends AbortOptions {
  /** first byte (default 0); past the end gives nothing */
  offset?: number
  /** bytes wanted (default: to the end); more than what is left gives what is left */
  length?: number
  /** blocks fetched ahead per level of the DAG (default 8) */
  blockReadConcurrency?: number
}

export interface LsEntry {
  name: string
  cid: CID
  /** 'unknown' when `resolveType` is false */
  type: ContentType | 'unknown'
  /** file bytes for files and raw blocks; for directories (or when not resolved) the size the link declares */
  size: number
}

export interface LsOptions extends AbortOptions {
  /** fetch each entry's root block to learn its type and file size (default true; raw CIDs need no fetch) */
  resolveType?: boolean
  /** entries resolved at a time (default 8) */
  concurrency?: number
}

export interface WalkEntry {
  /** relative to the root: '' for the root itself, then `a`, `a/b`, ... */
  path: string
  cid: CID
  type: ContentType
  /** as in ContentStat */
  size: number
  mode?: number
  mtime?: Date
  target?: string
  /** files and raw blocks: the bytes (may be called more than once) */
  content?: (options?: CatOptions) => AsyncIterable<Uint8Array>
}

export interface WalkOptions extends AbortOptions {
  /** entries resolved ahead per directory (default 8) */
  concurrency?: number
}

const DEFAULT_CONCURRENCY = 8

/** What the root block of a CID is. */
type Resolved =
  | { kind: 'raw', cid: CID, bytes?: Uint8Array, size?: number }
  | { kind: 'file' | 'directory' | 'symlink', cid: CID, node: dagPb.PBNode, unixfs: UnixFS, blockSize: number }

export async function statContent (cid: CID | string, source: BlockSource, options: AbortOptions = {}): Promise<ContentStat> {
  const ctx = new Context(source, options)
  const r = await ctx.resolve(toCid(cid), true)
  if (r.kind === 'raw') {
    const size = r.bytes?.length ?? 0
    return { cid: r.cid.toString(), type: 'raw', size, cumulativeSize: size, blockSize: size, blocks: 0 }
  }
  const cumulativeSize = r.blockSize + r.node.Links.reduce((acc, l) => acc + (l.Tsize ?? 0), 0)
  const stat: ContentStat = {
    cid: r.cid.toString(),
    type: r.kind,
    size: r.kind === 'directory' ? cumulativeSize : r.kind === 'symlink' ? (r.unixfs.data?.length ?? 0) : Number(r.unixfs.fileSize()),
    cumulativeSize,
    blockSize: r.blockSize,
    blocks: r.node.Links.length
  }
  if (r.kind === 'directory') stat.sharded = r.unixfs.type === 'hamt-sharded-directory'
  Object.assign(stat, metadata(r.unixfs))
  if (r.kind === 'symlink') stat.target = new TextDecoder().decode(r.unixfs.data ?? new Uint8Array(0))
  return stat
}

/** The bytes of a file (or raw block), or of a range of it. */
export async function * cat (cid: CID | string, source: BlockSource, options: CatOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
  const range = checkRange(options)
  const ctx = new Context(source, options)
  const r = await ctx.resolve(toCid(cid), true)
  if (r.kind === 'directory') throw new InvalidArgumentError(`Cannot read "${r.cid}": it is a directory`)
  if (r.kind === 'symlink') throw new InvalidArgumentError(`Cannot read "${r.cid}": it is a symlink`)
  yield * readFile(ctx, r, range)
}

/** The entries of a directory (flat or HAMT-sharded), in the order the DAG holds them. */
export async function * ls (cid: CID | string, source: BlockSource, options: LsOptions = {}): AsyncGenerator<LsEntry, void, undefined> {
  const ctx = new Context(source, options)
  const r = await ctx.resolve(toCid(cid), true)
  if (r.kind !== 'directory') throw new InvalidArgumentError(`Cannot list "${r.cid}": it is a ${r.kind === 'raw' ? 'file' : r.kind}, not a directory`)
  const links = ctx.links(r)
  if (options.resolveType === false) {
    for await (const link of links) yield { name: link.name, cid: link.cid, type: 'unknown', size: link.size }
    return
  }
  const concurrency = positive(options.concurrency ?? DEFAULT_CONCURRENCY, 'concurrency')
  const resolved = mapOrdered(links, async link => ({ link, child: await ctx.resolve(link.cid, false, link.size) }), concurrency)
  for await (const { link, child } of resolved) {
    yield { name: link.name, cid: link.cid, type: child.kind, size: entrySize(child, link.size) }
  }
}

/**
 * Every entry of a tree, depth first, each directory before its contents:
 * enough to recreate the tree. Entry names are checked (no "", ".", "..",
 * "/" or NUL), so joining them under a destination directory is safe.
 */
export async function * walk (cid: CID | string, source: BlockSource, options: WalkOptions = {}): AsyncGenerator<WalkEntry, void, undefined> {
  const ctx = new Context(source, options)
  const concurrency = positive(options.concurrency ?? DEFAULT_CONCURRENCY, 'concurrency')
  const root = await ctx.resolve(toCid(cid), false)
  yield * walkNode(ctx, root, '', undefined, concurrency)
}

async function * walkNode (ctx: Context, r: Resolved, path: string, linkSize: number | undefined, concurrency: number): AsyncGenerator<WalkEntry, void, undefined> {
  const entry: WalkEntry = { path, cid: r.cid, type: r.kind, size: entrySize(r, linkSize) }
  if (r.kind !== 'raw') Object.assign(entry, metadata(r.unixfs))
  if (r.kind === 'file' || r.kind === 'raw') {
    entry.content = (options: CatOptions = {}) => readFile(new Context(ctx.source, { signal: options.signal ?? ctx.signal }), r, checkRange(options))
  }
  if (r.kind === 'symlink') entry.target = new TextDecoder().decode(r.unixfs.data ?? new Uint8Array(0))
  yield entry
  if (r.kind !== 'directory') return
  const children = mapOrdered(ctx.links(r), async link => {
    checkName(r.cid, link.name)
    return { link, child: await ctx.resolve(link.cid, false, link.size) }
  }, concurrency)
  for await (const { link, child } of children) {
    yield * walkNode(ctx, child, path === '' ? link.name : `${path}/${link.name}`, link.size, concurrency)
  }
}

interface Range { start: number, end: number }

/** The file's bytes in [range.start, range.end), clamped to the file. */
async function * readFile (ctx: Context, r: Resolved, range: { offset: number, length?: number }): AsyncGenerator<Uint8Array, void, undefined> {
  if (r.kind === 'raw') {
    const bytes = r.bytes ?? await ctx.block(r.cid)
    if (r.size != null && bytes.length !== r.size) {
      throw new NotUnixFsError(r.cid.toString(), `Block "${r.cid}" has ${bytes.length} bytes but its parent says ${r.size}`)
    }
    const end = range.length == null ? bytes.length : Math.min(bytes.length, range.offset + range.length)
    if (range.offset < end) yield bytes.subarray(range.offset, end)
    return
  }
  if (r.kind !== 'file') throw new InvalidArgumentError(`Cannot read "${r.cid}": it is a ${r.kind}`)
  const fileSize = Number(r.unixfs.fileSize())
  const end = range.length == null ? fileSize : Math.min(fileSize, range.offset + range.length)
  if (range.offset >= end) return
  yield * readFileNode(ctx, r.cid, r.node, r.unixfs, 0, { start: range.offset, end })
}

async function * readFileNode (ctx: Context, cid: CID, node: dagPb.PBNode, unixfs: UnixFS, nodeStart: number, range: Range): AsyncGenerator<Uint8Array, void, undefined> {
  let pos = nodeStart
  const data = unixfs.data
  if (data != null && data.length > 0) {
    const from = Math.max(range.start, pos)
    const to = Math.min(range.end, pos + data.length)
    if (from < to) yield data.subarray(from - pos, to - pos)
    pos += data.length
  }
  if (node.Links.length !== unixfs.blockSizes.length) {
    throw new NotUnixFsError(cid.toString(), `File node "${cid}" has ${node.Links.length} links but ${unixfs.blockSizes.length} block sizes`)
  }
  const wanted: Array<{ cid: CID, start: number, size: number }> = []
  for (let i = 0; i < node.Links.length && pos < range.end; i++) {
    const size = Number(unixfs.blockSizes[i])
    if (pos + size > range.start) wanted.push({ cid: node.Links[i].Hash, start: pos, size })
    pos += size
  }
  if (wanted.length === 0) return
  const blocks = mapOrdered(wanted, async child => ({ child, bytes: await ctx.block(child.cid) }), ctx.readConcurrency)
  for await (const { child, bytes } of blocks) {
    if (child.cid.code === raw.code) {
      if (bytes.length !== child.size) {
        throw new NotUnixFsError(child.cid.toString(), `Leaf "${child.cid}" has ${bytes.length} bytes but file node "${cid}" says ${child.size}`)
      }
      const from = Math.max(range.start, child.start)
      const to = Math.min(range.end, child.start + bytes.length)
      if (from < to) yield bytes.subarray(from - child.start, to - child.start)
    } else if (child.cid.code === dagPb.code) {
      const r = decodeUnixFs(child.cid, bytes)
      if (r.kind !== 'file') {
        throw new NotUnixFsError(child.cid.toString(), `File node "${cid}" links to "${child.cid}", a ${r.kind}, not file data`)
      }
      const childSize = Number(r.unixfs.fileSize())
      if (childSize !== child.size) {
        throw new NotUnixFsError(child.cid.toString(), `File node "${child.cid}" holds ${childSize} bytes but its parent "${cid}" says ${child.size}`)
      }
      yield * readFileNode(ctx, child.cid, r.node, r.unixfs, child.start, range)
    } else {
      throw new NotUnixFsError(child.cid.toString(), `File node "${cid}" links to "${child.cid}" with codec 0x${child.cid.code.toString(16)}, not dag-pb or raw`)
    }
  }
}

/** One call's source, signal and settings. */
class Context {
  readonly source: BlockSource
  readonly signal?: AbortSignal
  readonly readConcurrency: number
  /** errors thrown by the source: they pass through the exporter library unchanged */
  private readonly fromSource = new WeakSet<object>()

  constructor (source: BlockSource, options: AbortOptions & { blockReadConcurrency?: number }) {
    this.source = source
    this.signal = options.signal
    this.readConcurrency = positive(options.blockReadConcurrency ?? DEFAULT_CONCURRENCY, 'blockReadConcurrency')
  }

  async block (cid: CID): Promise<Uint8Array> {
    if (this.signal?.aborted === true) throw new AbortedError()
    if (cid.multihash.code === identity.code) return cid.multihash.digest
    try {
      return await this.source.get(cid, this.signal == null ? undefined : { signal: this.signal })
    } catch (err) {
      if (typeof err === 'object' && err != null) this.fromSource.add(err)
      throw err
    }
  }

  /**
   * The root block of `cid`, decoded. Raw blocks are fetched only when
   * `fetchRaw` (their type is in the CID; `size` is what a parent link says).
   */
  async resolve (cid: CID, fetchRaw: boolean, size?: number): Promise<Resolved> {
    if (cid.code === raw.code) {
      if (!fetchRaw && size != null && cid.multihash.code !== identity.code) return { kind: 'raw', cid, size }
      const bytes = await this.block(cid)
      return { kind: 'raw', cid, bytes, size: bytes.length }
    }
    if (cid.code !== dagPb.code) {
      throw new NotUnixFsError(cid.toString(), `"${cid}" is not UnixFS: its codec is 0x${cid.code.toString(16)}, not dag-pb or raw`)
    }
    return decodeUnixFs(cid, await this.block(cid))
  }

  /** The entries of a directory: from the node's links, or through the exporter for a HAMT. */
  async * links (r: Resolved): AsyncGenerator<{ name: string, cid: CID, size: number }, void, undefined> {
    if (r.kind !== 'directory') return
    if (r.unixfs.type === 'directory') {
      for (const link of r.node.Links) {
        yield { name: link.Name ?? '', cid: link.Hash, size: link.Tsize ?? 0 }
      }
      return
    }
    const storage: ReadableStorage = {
      get: (cid: CID) => (async function * (ctx: Context) { yield await ctx.block(cid) })(this)
    }
    try {
      const entry = await unixfsExporter(r.cid, storage, { signal: this.signal })
      if (entry.type !== 'directory') throw new NotUnixFsError(r.cid.toString(), `HAMT shard "${r.cid}" did not read as a directory`)
      for await (const e of entry.entries({ signal: this.signal })) {
        yield { name: e.name, cid: e.cid, size: Number(e.size) }
      }
    } catch (err) {
      throw this.mapLibraryError(r.cid, err)
    }
  }

  private mapLibraryError (cid: CID, err: unknown): unknown {
    if (typeof err === 'object' && err != null && this.fromSource.has(err)) return err
    if (err instanceof NotUnixFsError || err instanceof AbortedError) return err
    if (this.signal?.aborted === true) return new AbortedError()
    const message = err instanceof Error ? err.message : String(err)
    return new NotUnixFsError(cid.toString(), `Cannot read HAMT directory "${cid}": ${message}`, { cause: err })
  }
}

/** A dag-pb block as UnixFS (NotUnixFsError when it is not). */
export function decodeUnixFs (cid: CID, bytes: Uint8Array): Resolved & { kind: 'file' | 'directory' | 'symlink' } {
  let node: dagPb.PBNode
  try {
    node = dagPb.decode(bytes)
  } catch (err) {
    throw new NotUnixFsError(cid.toString(), `Block "${cid}" is not a valid dag-pb node: ${(err as Error).message}`, { cause: err })
  }
  if (node.Data == null) throw new NotUnixFsError(cid.toString(), `dag-pb node "${cid}" has no UnixFS data`)
  let unixfs: UnixFS
  try {
    unixfs = UnixFS.unmarshal(node.Data)
  } catch (err) {
    throw new NotUnixFsError(cid.toString(), `dag-pb node "${cid}" does not hold UnixFS data: ${(err as Error).message}`, { cause: err })
  }
  switch (unixfs.type) {
    case 'file':
    case 'raw':
      return { kind: 'file', cid, node, unixfs, blockSize: bytes.length }
    case 'directory':
    case 'hamt-sharded-directory':
      return { kind: 'directory', cid, node, unixfs, blockSize: bytes.length }
    case 'symlink':
      return { kind: 'symlink', cid, node, unixfs, blockSize: bytes.length }
    default:
      throw new NotUnixFsError(cid.toString(), `UnixFS node "${cid}" has type "${unixfs.type}", which shoal does not read`)
  }
}

function entrySize (r: Resolved, linkSize: number | undefined): number {
  if (r.kind === 'raw') return r.bytes?.length ?? r.size ?? linkSize ?? 0
  if (r.kind === 'file') return Number(r.unixfs.fileSize())
  if (r.kind === 'symlink') return r.unixfs.data?.length ?? 0
  return linkSize ?? r.blockSize + r.node.Links.reduce((acc, l) => acc + (l.Tsize ?? 0), 0)
}

function metadata (unixfs: UnixFS): { mode?: number, mtime?: Date } {
  const out: { mode?: number, mtime?: Date } = { mode: unixfs.mode }
  if (unixfs.mtime != null) {
    out.mtime = new Date(Number(unixfs.mtime.secs) * 1000 + Math.floor((unixfs.mtime.nsecs ?? 0) / 1_000_000))
  }
  return out
}

function checkName (dir: CID, name: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new NotUnixFsError(dir.toString(), `Directory "${dir}" has an entry named ${JSON.stringify(name)}, which cannot be a file name`)
  }
}

function checkRange (options: { offset?: number, length?: number }): { offset: number, length?: number } {
  const offset = options.offset ?? 0
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new InvalidArgumentError(`Invalid offset ${String(options.offset)}: expected a whole number of bytes >= 0`)
  }
  if (options.length != null && (!Number.isSafeInteger(options.length) || options.length < 0)) {
    throw new InvalidArgumentError(`Invalid length ${String(options.length)}: expected a whole number of bytes >= 0`)
  }
  return { offset, length: options.length }
}

function toCid (cid: CID | string): CID {
  if (typeof cid === 'string') return parseCid(cid)
  const c = CID.asCID(cid)
  if (c == null) throw new InvalidArgumentError(`Invalid CID ${String(cid)}`)
  return c
}

function positive (n: number, name: string): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`Invalid ${name} ${n}: expected a positive integer`)
  return n
}

/**
 * `fn` over `source` with up to `concurrency` calls running ahead, results in
 * source order. Calls started but not consumed (the consumer stopped early)
 * have their rejections handled, so nothing is left unhandled.
 */
export async function * mapOrdered<T, R> (source: Iterable<T> | AsyncIterable<T>, fn: (item: T) => Promise<R>, concurrency: number): AsyncGenerator<R, void, undefined> {
  const iterator = (Symbol.asyncIterator in source)
    ? (source as AsyncIterable<T>)[Symbol.asyncIterator]()
    : (async function * () { yield * (source as Iterable<T>) })()
  const pending: Array<Promise<R>> = []
  let done = false
  try {
    while (true) {
      while (!done && pending.length < concurrency) {
        const next = await iterator.next()
        if (next.done === true) {
          done = true
          break
        }
        const p = fn(next.value)
        p.catch(() => {})
        pending.push(p)
      }
      const p = pending.shift()
      if (p == null) return
      yield await p
    }
  } finally {
    if (!done) await iterator.return?.()
  }
}
