/**
 * Importing bytes into UnixFS DAGs with ipfs-unixfs-importer, so a file's CID
 * is the one Kubo gives for the same settings.
 *
 * Defaults equal `ipfs add --cid-version=1`: 256 KiB fixed chunks, raw leaves,
 * balanced layout with at most 174 links per node, sha2-256, CIDv1, and a
 * single-chunk file is its raw leaf (`bafkrei...`). `cidVersion: 0` equals
 * plain `ipfs add`: CIDv0 and dag-pb leaves (UnixFS type "file") unless
 * `rawLeaves: true` is asked for. Directories are dag-pb UnixFS directories,
 * turned into HAMT shards (fanout 256, murmur3 keys) when the estimated size
 * of the directory node (names + CIDs of the links, Kubo's "links" estimate)
 * exceeds 256 KiB, as Kubo's autosharding does (Import.UnixFSHAMTDirectory-
 * SizeThreshold; boxo switches when the estimate is strictly above it).
 *
 * Symlinks are UnixFS symlink nodes (a dag-pb node of type Symlink whose data
 * is the target, not followed), the importer's own, as Kubo writes them.
 *
 * Files are laid out by our own file builder (layout.ts): the importer's
 * writes a garbled, unreadable node (a different CID each time) wherever a
 * file or subtree size lies between 2 GiB and 4 GiB (the root of every file
 * of that size), through a bug in the protobuf writer under ipfs-unixfs;
 * layout.ts explains it. Directory nodes are the importer's, and
 * the same bug would garble a directory mtime from 2038-01-19 to 2106-02-07,
 * so such a directory mtime is refused (InvalidArgumentError).
 *
 * Memory stays flat whatever the size: input is consumed as a stream; at most
 * `blockWriteConcurrency` blocks are being written (a sliding window, see
 * ImportRun) while the next chunk is hashed; the layout keeps no chunk bytes
 * while it groups leaves (layout.ts); files of a directory are imported one
 * after another unless `fileImportConcurrency` says otherwise (entries of a
 * directory often come from one sequential stream, where reading ahead would
 * buffer whole files). Only the directory tree itself (names and CIDs, not
 * contents) is held until the end.
 *
 * Copies: a chunk inside one input buffer is a view of it; a chunk spanning
 * input buffers is copied once (fixed-size chunks: straight into the chunk's
 * own buffer, see chunker.ts). With `freeInput`, the source's buffers are
 * freed as soon as they are copied, not at the next full GC. Each
 * block is hashed once (node:crypto through multiformats, synchronously, on
 * the calling thread). The signal is checked
 * between input buffers and before each write, and passed to the sink; a
 * source that waits for bytes should watch the same signal.
 */
import { importer, type ImportCandidate, type ImporterOptions, type WritableStorage } from 'ipfs-unixfs-importer'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import type { ProgressEvent } from 'progress-events'
import { AbortedError, InvalidArgumentError } from '../errors.ts'
import { createChunker, DEFAULT_CHUNKER, parseChunker, type ChunkerSpec } from './chunker.ts'
import { concatBytes } from './fastcdc.ts'
import { balancedFileBuilder, digestSync } from './layout.ts'
import type { AbortOptions, BlockSink } from './blocks.ts'

export { parseChunker, formatChunker, DEFAULT_CHUNKER, MAX_CHUNK_SIZE } from './chunker.ts'
export type { ChunkerSpec, ChunkerConfig } from './chunker.ts'

/** bytes of file content read (and chunked) so far, over all files */
export type ImportProgress = ProgressEvent<'import:read', { bytes: number }>

export interface ImportOptions {
  /** 1 (default, `ipfs add --cid-version=1`) or 0 (plain `ipfs add`) */
  cidVersion?: 0 | 1
  /** `size-N` (default `size-262144`), `fastcdc` or `fastcdc-MIN-AVG-MAX` */
  chunker?: ChunkerSpec
  /** default: true for CIDv1, false for CIDv0 (as Kubo) */
  rawLeaves?: boolean
  signal?: AbortSignal
  /** called after each chunk (not each input buffer) with the bytes read so far; cheap */
  onProgress?: (evt: ImportProgress) => void
  /** blocks being written to the sink at a time (default 8): a sliding window, hashing goes on meanwhile */
  blockWriteConcurrency?: number
  /** files of a directory imported at a time (default 1; see the module comment) */
  fileImportConcurrency?: number
  /**
   * Estimated directory node size (names + CIDs of the links) above which a
   * directory becomes a HAMT shard; default SHARD_SPLIT_THRESHOLD_BYTES, Kubo's
   * `Import.UnixFSHAMTDirectorySizeThreshold`. 1 shards every directory (Kubo's
   * `Internal.UnixFSShardingSizeThreshold "1B"`).
   */
  shardSplitThresholdBytes?: number
  /**
   * The source hands its buffers over to the import: nothing else holds them
   * or a view of them once they are yielded (each is a buffer of its own, as
   * the pieces of an HTTP request body are), so the chunker frees each one as
   * soon as its bytes are copied into blocks (chunker.ts `freeInput`). Only
   * for sources that are sure of it: a caller that reuses or keeps a buffer it
   * yielded would find it emptied.
   */
  freeInput?: boolean
}

export interface ImportFileResult {
  cid: CID
  /** file bytes */
  size: number
  /** blocks written to the sink (a block repeated in the file counts each time) */
  blocks: number
}

export interface DirectoryEntryInput {
  /** relative, `/`-separated; no empty, `.` or `..` segments */
  path: string
  /** file content; absent for a directory or a symlink */
  content?: AsyncIterable<Uint8Array> | Iterable<Uint8Array>
  /** a symlink's target (stored as it is, never followed); absent for a file or a directory */
  target?: string
  mode?: number
  mtime?: Date
}

export interface ImportedEntry {
  path: string
  cid: CID
  type: 'file' | 'directory' | 'symlink'
  /** file bytes for a file; the target's bytes for a symlink; for a directory its cumulative DAG size (its blocks and everything below) */
  size: number
}

export interface ImportDirectoryResult {
  cid: CID
  /** cumulative DAG size of the root directory (as `statContent` reports it) */
  size: number
  /** file bytes imported, over all files */
  bytes: number
  /** blocks written to the sink */
  blocks: number
  /**
   * Every file, symlink and directory below the root in the order `ipfs add -r`
   * prints them: files and symlinks in the order they were given, then the
   * directories, each after everything below it, siblings by name (bytewise).
   */
  entries: ImportedEntry[]
}

/** Kubo's default maximum links per node of the balanced layout. */
export const MAX_CHILDREN_PER_NODE = 174
/** Kubo's default HAMT sharding threshold (bytes of the estimated directory node). */
export const SHARD_SPLIT_THRESHOLD_BYTES = 256 * 1024
/** Blocks written to the sink at a time (a sliding window; a sink that resolves at once never fills it). */
export const DEFAULT_BLOCK_WRITE_CONCURRENCY = 8

/** A sink that discards every block (`--only-hash`). */
export const nullSink: BlockSink = {
  async put () {}
}

/** Imports one file (a byte stream) and returns its root CID. */
export async function importFile (
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array> | Uint8Array,
  sink: BlockSink,
  options: ImportOptions = {}
): Promise<ImportFileResult> {
  const run = new ImportRun(sink, options)
  const content = checkContent(source instanceof Uint8Array ? [source] : source)
  let root: { cid: CID, unixfs?: { fileSize(): bigint } } | undefined
  try {
    for await (const entry of importer([{ content }], run.storage, run.importerOptions({ wrapWithDirectory: false }))) {
      root = entry
    }
    await run.drain()
  } catch (err) {
    throw await run.fail(err)
  }
  if (root == null) throw new Error('The importer returned nothing')
  return { cid: root.cid, size: run.bytes, blocks: run.blocks }
}

/**
 * Imports one symlink (`ipfs add LINK` adds the link itself, not what it
 * points to): a UnixFS symlink node holding `target`.
 */
export async function importSymlink (target: string, sink: BlockSink, options: Pick<ImportOptions, 'cidVersion' | 'signal'> = {}): Promise<{ cid: CID, size: number }> {
  const run = new ImportRun(sink, options)
  const link = validateTarget(target, 'the symlink')
  let root: { cid: CID } | undefined
  try {
    for await (const entry of importer([{ path: 'link', link }], run.storage, run.importerOptions({ wrapWithDirectory: false }))) {
      root = entry
    }
    await run.drain()
  } catch (err) {
    throw await run.fail(err)
  }
  if (root == null) throw new Error('The importer returned nothing')
  return { cid: root.cid, size: Buffer.byteLength(link) }
}

/**
 * Imports a tree given as entries with relative paths; returns the root
 * directory (all entries sit below it, as in `ipfs add -r DIR`: the root is
 * DIR). Directories are created for every parent path; an entry without
 * content is an (empty or not) directory. No entries give the empty directory.
 */
export async function importDirectory (
  entries: AsyncIterable<DirectoryEntryInput> | Iterable<DirectoryEntryInput>,
  sink: BlockSink,
  options: ImportOptions = {}
): Promise<ImportDirectoryResult> {
  const run = new ImportRun(sink, options)
  const seen = new Map<string, 'file' | 'directory' | 'implied'>()
  // files and symlinks in the order given (the order `ipfs add -r` prints them)
  const inputOrder = new Map<string, number>()
  // directories given as entries, with their metadata: the importer does not report those left empty
  const explicitDirs = new Map<string, { mode?: number, mtime?: { secs: bigint, nsecs: number } }>()
  const candidates = async function * (): AsyncGenerator<ImportCandidate> {
    for await (const entry of entries) {
      run.checkAborted()
      const path = validatePath(entry?.path)
      const isFile = entry.content != null
      const isLink = entry.target != null
      if (isFile && isLink) throw new InvalidArgumentError(`Invalid entry ${JSON.stringify(path)}: it has both content and a symlink target`)
      recordPath(seen, path, isFile || isLink ? 'file' : 'directory', entry)
      if (seen.get(path) === 'implied') continue // an already-known directory, nothing to add
      const meta: { mode?: number, mtime?: { secs: bigint, nsecs: number } } = {}
      if (entry.mode != null) meta.mode = validateMode(entry.mode, path)
      if (entry.mtime != null) meta.mtime = toMtime(entry.mtime, path, isFile)
      if (isFile || isLink) inputOrder.set(path, inputOrder.size)
      if (isLink) {
        yield { path, link: validateTarget(entry.target, path), ...meta }
      } else if (isFile) {
        const content = entry.content as AsyncIterable<Uint8Array> | Iterable<Uint8Array>
        yield { path, content: checkContent(content instanceof Uint8Array ? [content] : content), ...meta }
      } else {
        explicitDirs.set(path, meta)
        yield { path, ...meta }
      }
    }
  }
  const results: ImportedEntry[] = []
  let root: ImportedEntry | undefined
  try {
    for await (const entry of importer(candidates(), run.storage, run.importerOptions({ wrapWithDirectory: true }))) {
      const path = entry.path ?? ''
      const type = entry.unixfs?.isDirectory() === true ? 'directory' : entry.unixfs?.type === 'symlink' ? 'symlink' : 'file'
      const size = type === 'directory' || entry.cid.code === raw.code
        ? Number(entry.size)
        : type === 'symlink' ? (entry.unixfs?.data?.length ?? 0) : Number(entry.unixfs?.fileSize() ?? entry.size)
      const imported: ImportedEntry = { path, cid: entry.cid, type, size }
      if (path === '') root = imported
      else results.push(imported)
    }
    await run.drain()
  } catch (err) {
    throw await run.fail(err)
  }
  if (root == null) throw new Error('The importer returned no root directory')
  if (explicitDirs.size > 0) {
    const reported = new Set(results.map(e => e.path))
    for (const [path, meta] of explicitDirs) {
      if (!reported.has(path)) results.push({ path, type: 'directory', ...emptyDirectory(meta, run.cidVersion) })
    }
  }
  return { cid: root.cid, size: root.size, bytes: run.bytes, blocks: run.blocks, entries: addOrder(results, inputOrder) }
}

/** `ipfs add -r`'s order: leaves as given, then directories children first, siblings by name (bytewise, as Go sorts). */
function addOrder (entries: ImportedEntry[], inputOrder: Map<string, number>): ImportedEntry[] {
  const leaves = entries.filter(e => e.type !== 'directory')
    .sort((a, b) => (inputOrder.get(a.path) ?? 0) - (inputOrder.get(b.path) ?? 0))
  const dirs = entries.filter(e => e.type === 'directory')
    .map(e => ({ e, segments: e.path.split('/').map(s => Buffer.from(s)) }))
    .sort((a, b) => {
      const n = Math.min(a.segments.length, b.segments.length)
      for (let i = 0; i < n; i++) {
        const c = Buffer.compare(a.segments[i], b.segments[i])
        if (c !== 0) return c
      }
      // one is inside the other: the deeper one first
      return b.segments.length - a.segments.length
    })
    .map(d => d.e)
  return [...leaves, ...dirs]
}

/** Longest symlink target accepted (Linux's PATH_MAX). */
export const MAX_SYMLINK_TARGET_BYTES = 4096

/** Checks a symlink's target (any text, as a file system allows: not empty, no NUL, at most 4096 bytes); returns it. */
export function validateTarget (target: unknown, path: string): string {
  const show = JSON.stringify(path)
  if (typeof target !== 'string' || target === '') throw new InvalidArgumentError(`Invalid symlink ${show}: its target must be a non-empty string`)
  if (target.includes('\0')) throw new InvalidArgumentError(`Invalid symlink ${show}: its target contains a NUL character`)
  if (Buffer.byteLength(target) > MAX_SYMLINK_TARGET_BYTES) throw new InvalidArgumentError(`Invalid symlink ${show}: its target is longer than ${MAX_SYMLINK_TARGET_BYTES} bytes`)
  return target
}

/** Checks a relative path; returns it. */
export function validatePath (path: unknown): string {
  if (typeof path !== 'string') {
    throw new InvalidArgumentError(`Invalid path ${String(path)}: expected a string`)
  }
  const show = JSON.stringify(path.length > 200 ? path.slice(0, 200) + '...' : path)
  if (path === '') throw new InvalidArgumentError('Invalid path "": a path must name an entry below the root')
  if (path.startsWith('/')) throw new InvalidArgumentError(`Invalid path ${show}: it must be relative (no leading "/")`)
  if (path.includes('\0')) throw new InvalidArgumentError(`Invalid path ${show}: it contains a NUL character`)
  for (const segment of path.split('/')) {
    if (segment === '') throw new InvalidArgumentError(`Invalid path ${show}: it has an empty segment ("//" or a trailing "/")`)
    if (segment === '..') throw new InvalidArgumentError(`Invalid path ${show}: ".." is not allowed`)
    if (segment === '.') throw new InvalidArgumentError(`Invalid path ${show}: "." is not allowed`)
    // the importer reads "\/" as an escaped slash, so a name may not end with a backslash
    if (segment.endsWith('\\')) throw new InvalidArgumentError(`Invalid path ${show}: a name may not end with "\\"`)
  }
  return path
}

function recordPath (seen: Map<string, 'file' | 'directory' | 'implied'>, path: string, kind: 'file' | 'directory', entry: DirectoryEntryInput): void {
  const show = JSON.stringify(path)
  const segments = path.split('/')
  // every parent must be (or become) a directory
  let parent = ''
  for (let i = 0; i < segments.length - 1; i++) {
    parent = parent === '' ? segments[i] : `${parent}/${segments[i]}`
    const known = seen.get(parent)
    if (known === 'file') throw new InvalidArgumentError(`Invalid path ${show}: "${parent}" is a file`)
    if (known == null) seen.set(parent, 'implied')
  }
  const known = seen.get(path)
  if (known == null) {
    seen.set(path, kind)
    return
  }
  if (kind === 'file') {
    throw new InvalidArgumentError(known === 'file' ? `Duplicate path ${show}` : `Invalid path ${show}: it is already a directory`)
  }
  if (known === 'file') throw new InvalidArgumentError(`Invalid path ${show}: it is already a file`)
  // a directory listed again (or after its contents): harmless unless it carries metadata,
  // which the importer could only apply by dropping what is already below it
  if (entry.mode != null || entry.mtime != null) {
    throw new InvalidArgumentError(`Invalid entry ${show}: a directory with a mode or mtime must come before its contents and only once`)
  }
  seen.set(path, 'implied')
}

/** The CID and size of an empty directory node, as the importer writes it (it stores the block itself). */
function emptyDirectory (meta: { mode?: number, mtime?: { secs: bigint, nsecs: number } }, cidVersion: 0 | 1): { cid: CID, size: number } {
  const unixfs = new UnixFS({ type: 'directory', ...meta })
  const block = dagPb.encode(dagPb.prepare({ Data: unixfs.marshal() }))
  const cid = CID.create(cidVersion, dagPb.code, digestSync(block))
  return { cid, size: block.length }
}

function validateMode (mode: number, path: string): number {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw new InvalidArgumentError(`Invalid mode ${mode} for ${JSON.stringify(path)}: expected permission bits 0 to 0o7777`)
  }
  return mode
}

function toMtime (mtime: Date, path: string, isFile: boolean): { secs: bigint, nsecs: number } {
  const ms = mtime instanceof Date ? mtime.getTime() : NaN
  if (!Number.isFinite(ms)) throw new InvalidArgumentError(`Invalid mtime for ${JSON.stringify(path)}: expected a valid Date`)
  const secs = Math.floor(ms / 1000)
  // directory nodes are encoded by ipfs-unixfs, whose int64 writer garbles 2^31 <= secs < 2^32 (see layout.ts)
  if (!isFile && secs >= 2 ** 31 && secs < 2 ** 32) {
    throw new InvalidArgumentError(`Unsupported mtime ${mtime.toISOString()} for directory ${JSON.stringify(path)}: directory times from 2038-01-19T03:14:08Z to 2106-02-07T06:28:15Z cannot be stored yet`)
  }
  return { secs: BigInt(secs), nsecs: (ms - secs * 1000) * 1_000_000 }
}

const IMPORTER_ERRORS = new Set([
  'InvalidParametersError', 'InvalidAvgChunkSizeError', 'InvalidChunkSizeError',
  'InvalidMinChunkSizeError', 'InvalidContentError', 'InvalidShardingStrategyError'
])

/**
 * State of one import: the sink adapter with its write window, counters, abort
 * checks.
 *
 * Writes go through a sliding window: `write` starts `sink.put` and returns at
 * once unless `blockWriteConcurrency` puts are pending, so hashing the next
 * chunk overlaps with storing the previous ones, and at most that many chunks
 * (plus the one being hashed) are held. Every block of a file goes through it
 * from our file builder (layout.ts), leaves in file order; the importer's own
 * batching (`blockWriteConcurrency` chunks read, then all hashed and written,
 * then the next batch) is not used.
 */
class ImportRun {
  bytes = 0
  blocks = 0
  readonly storage: WritableStorage
  private readonly sink: BlockSink
  private readonly options: ImportOptions
  private readonly signal?: AbortSignal
  private readonly putOptions?: AbortOptions
  private readonly window: number
  private readonly pending = new Set<Promise<void>>()
  private failure: { error: unknown } | undefined
  constructor (sink: BlockSink, options: ImportOptions) {
    this.sink = sink
    this.options = options
    this.signal = options.signal
    this.putOptions = options.signal == null ? undefined : { signal: options.signal }
    this.window = positive(options.blockWriteConcurrency ?? DEFAULT_BLOCK_WRITE_CONCURRENCY, 'blockWriteConcurrency')
    // the importer's blockstore interface (v7): put(cid, bytes | Iterable | AsyncIterable) => CID
    this.storage = {
      put: async (cid, bytes) => {
        await this.write(cid, bytes instanceof Uint8Array ? bytes : await collect(bytes))
        return cid
      }
    }
  }

  /** Starts writing a block; waits only while the window is full. */
  async write (cid: CID, block: Uint8Array): Promise<void> {
    this.checkAborted()
    this.throwIfFailed()
    const p: Promise<void> = this.sink.put(cid, block, this.putOptions).then(
      () => { this.blocks++; this.pending.delete(p) },
      (error: unknown) => { this.failure ??= { error }; this.pending.delete(p) }
    )
    this.pending.add(p)
    while (this.pending.size >= this.window) await Promise.race(this.pending)
    this.throwIfFailed()
  }

  private throwIfFailed (): void {
    if (this.failure != null) throw this.failure.error
  }

  /** Waits for every pending write; throws the first failure. */
  async drain (): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending)
    this.throwIfFailed()
  }

  /** After a failure: lets pending writes settle (nothing is written after we return), maps the error. */
  async fail (err: unknown): Promise<unknown> {
    while (this.pending.size > 0) await Promise.all(this.pending)
    return this.mapError(err)
  }

  get cidVersion (): 0 | 1 {
    const cidVersion = this.options.cidVersion ?? 1
    if (cidVersion !== 0 && cidVersion !== 1) {
      throw new InvalidArgumentError(`Invalid CID version ${String(cidVersion)}: expected 0 or 1`)
    }
    return cidVersion
  }

  importerOptions (extra: Partial<ImporterOptions>): ImporterOptions {
    const o = this.options
    const cidVersion = this.cidVersion
    const chunker = createChunker(parseChunker(o.chunker ?? DEFAULT_CHUNKER), { freeInput: o.freeInput === true })
    const rawLeaves = o.rawLeaves ?? cidVersion === 1
    const fileImportConcurrency = positive(o.fileImportConcurrency ?? 1, 'fileImportConcurrency')
    const onProgress = o.onProgress
    return {
      cidVersion,
      rawLeaves,
      reduceSingleLeafToSelf: true,
      chunker,
      // leaves and Kubo's balanced layout (174 links per node), with file nodes encoded right at every size (see layout.ts)
      fileBuilder: balancedFileBuilder({ maxChildrenPerNode: MAX_CHILDREN_PER_NODE, rawLeaves, cidVersion }),
      shardSplitThresholdBytes: positive(o.shardSplitThresholdBytes ?? SHARD_SPLIT_THRESHOLD_BYTES, 'shardSplitThresholdBytes'),
      shardSplitStrategy: 'links-bytes',
      shardFanoutBits: 8,
      fileImportConcurrency,
      // the importer's own validator is one more async layer per input buffer; guard() checks the same
      chunkValidator: (source) => this.guard(source),
      onProgress: (evt) => {
        if (evt.type === 'unixfs:importer:progress:file:read') {
          this.bytes += Number((evt.detail as { chunkSize: bigint }).chunkSize)
          onProgress?.({ type: 'import:read', detail: { bytes: this.bytes } })
        }
      },
      ...extra
    }
  }

  /** Wraps a file's byte stream (in place of the importer's chunk validator): abort checks between buffers, clear errors for non-bytes. */
  guard (source: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
    const run = this
    return (async function * () {
      for await (const buf of source) {
        run.checkAborted()
        if (!(buf instanceof Uint8Array)) {
          throw new InvalidArgumentError(`Invalid content: expected Uint8Array chunks, got ${typeof buf}`)
        }
        if (buf.length > 0) yield buf
      }
    })()
  }

  checkAborted (): void {
    if (this.signal?.aborted === true) throw new AbortedError('The import was aborted')
  }

  mapError (err: unknown): unknown {
    if (this.signal?.aborted === true && !(err instanceof AbortedError)) return new AbortedError('The import was aborted')
    if (err instanceof Error && IMPORTER_ERRORS.has(err.name)) {
      return new InvalidArgumentError(`Cannot import: ${err.message}`, { cause: err })
    }
    return err
  }
}

function checkContent<T extends AsyncIterable<Uint8Array> | Iterable<Uint8Array>> (source: T): T {
  if (source == null || (typeof (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] !== 'function' && typeof (source as Iterable<Uint8Array>)[Symbol.iterator] !== 'function')) {
    throw new InvalidArgumentError('Invalid content: expected bytes, an iterable or an async iterable of Uint8Array')
  }
  return source
}

function positive (n: number, name: string): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`Invalid ${name} ${n}: expected a positive integer`)
  return n
}

async function collect (bytes: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  let length = 0
  for await (const p of bytes) {
    parts.push(p)
    length += p.length
  }
  return concatBytes(parts, length)
}
