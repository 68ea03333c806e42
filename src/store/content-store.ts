/**
 * The storage service of one node: the blockstore, the metadata database,
 * pins, blocks held for the network, garbage collection and stats.
 *
 *   <dir>/packs/ quarantine/         the PackedBlockstore (the default layout)
 *   <dir>/blocks/ tmp/ quarantine/   or the FsBlockstore (layout "flat"), unless one is given
 *   <dir>/metadata.db                SQLite (see metadata.ts)
 *
 * A repo holding blocks in the other layout is moved to the chosen one at
 * open (each block read, verified and put; the old copies removed once the
 * new ones are durable), so switching `blockstore` in the config is safe.
 *
 * Writes go through `blocks`, which keeps an index of the stored blocks (and
 * their total size) in SQLite so `stat()` costs two lookups, not a walk of
 * the disk. The index is written in batches (one transaction per turn of the
 * event loop). It is a cache of the blockstore: after an unclean shutdown
 * (the `open` flag is still set at the next open) or on a new database, it
 * is rebuilt from `blocks.list()`. Write to the blockstore only through
 * `ContentStore.blocks`, or the index and the stats drift until the next
 * rebuild.
 *
 * GC and writers: an add (or an import, or a replication fetch) runs inside
 * `writeSession`, which holds a shared lock for its whole length; `gc` takes
 * the lock exclusively, so it waits for running sessions to end, new
 * sessions wait for it, and it never removes a block that an in-progress add
 * wrote or deduplicated against before that add pinned it. Sessions nest
 * (a pin inside a session does not take the lock again).
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import fs from 'node:fs/promises'
import path from 'node:path'
import { CID } from 'multiformats/cid'
import { code as RAW_CODE } from 'multiformats/codecs/raw'
import type { ProgressEvent } from 'progress-events'
import { childLinks, multihashKey } from '../content/blocks.ts'
import { walkStructure } from '../content/dag.ts'
import { AbortedError, BlockNotFoundError, CorruptBlockError, InvalidArgumentError, NotPinnedError, StorageFullError } from '../errors.ts'
import { silentLogger, type Logger } from '../platform/logger.ts'
import { blockKey, putManyWith, throwIfAborted, type AbortOptions, type Block, type BlockInfo, type Blockstore, type GetOptions, type PutManyOptions, type PutOptions } from './blockstore.ts'
import { FsBlockstore, Semaphore } from './fs-blockstore.ts'
import { PackedBlockstore } from './packed-blockstore.ts'
import { Metadata, type PinMode, type PinRow } from './metadata.ts'

export interface ContentStoreInit {
  /** The store's directory (created if needed). */
  dir: string
  /** The blockstore to use; default the `layout` one rooted at `dir`. */
  blockstore?: Blockstore
  /** packed (default): segment files; flat: one file per block (Kubo's flatfs) */
  layout?: BlockLayout
  /** packed layout: the size at which a new segment is started (default 256 MiB; tests use small ones) */
  segmentBytes?: number
  /** For the default blockstore: fsync files and directories (default true). */
  fsync?: boolean
  /** For the default blockstore: block writes at once (default 32). */
  maxConcurrentWrites?: number
  /** Called after a corrupted block was quarantined (default blockstore). */
  onCorrupt?(cid: CID, quarantinePath: string): void
  logger?: Logger
  /** How many blocks a pin reads at once (default 8). */
  walkConcurrency?: number
  /** Clock, ms (tests). */
  now?(): number
  /** Most bytes of blocks stored (0 or absent: no limit but the disk); puts beyond it fail with StorageFullError. */
  storageMax?: number
}

export type BlockLayout = 'packed' | 'flat'

export interface Pin {
  /** The root, in CIDv1 form (a CIDv0 and its v1 form are one pin). */
  cid: CID
  mode: PinMode
  name?: string
  created: Date
  /** Distinct blocks the pin covers, and their total size. */
  blocks: number
  bytes: number
}

export type PinProgressEvent = ProgressEvent<'pin:block', { cid: CID, blocks: number, bytes: number }>
export type GcProgressEvent = ProgressEvent<'gc:removed', { cid: CID, size: number, removedBlocks: number, freedBytes: number }>

export interface PinOptions extends AbortOptions {
  /** Cover the whole DAG (default) or only the root block. */
  recursive?: boolean
  /**
   * Sizes of raw blocks (no links) that the caller stored in this write
   * session, by `multihashKey`: the walk records them without reading them
   * back. Only an add that just wrote them passes this.
   */
  storedRawBlocks?: Map<string, number>
  name?: string
  onProgress?(event: PinProgressEvent): void
}

export interface GcOptions extends AbortOptions {
  onProgress?(event: GcProgressEvent): void
}

export interface GcResult {
  removedBlocks: number
  freedBytes: number
}

export interface StoreStat {
  /** Blocks stored, and their total size. */
  blocks: number
  bytes: number
  pins: number
  /** Of the filesystem holding the store: space available to shoal, and its size. */
  freeBytes: number
  totalBytes: number
  /** The quota (config storageMax; 0: none), and the cache within `bytes` that GC would reclaim. */
  maxBytes: number
  cacheBytes: number
}

export class ContentStore {
  readonly dir: string
  /** The blockstore to read and write through (it keeps the block index). */
  readonly blocks: Blockstore
  readonly metadata: Metadata
  readonly #inner: Blockstore
  readonly #index: IndexedBlockstore
  readonly #lock = new RwLock()
  readonly #inSession = new AsyncLocalStorage<boolean>()
  readonly #log: Logger
  readonly #walkConcurrency: number
  readonly #closing = new AbortController()
  #closed = false

  private constructor (dir: string, inner: Blockstore, metadata: Metadata, init: ContentStoreInit) {
    this.dir = dir
    this.#inner = inner
    this.metadata = metadata
    this.#log = init.logger ?? silentLogger
    this.#index = new IndexedBlockstore(inner, metadata, this.#log, init.storageMax ?? 0, () => { this.#reclaimSoon() })
    this.blocks = this.#index
    this.#walkConcurrency = Math.max(1, init.walkConcurrency ?? 8)
  }

  static async open (init: ContentStoreInit): Promise<ContentStore> {
    const dir = path.resolve(init.dir)
    await fs.mkdir(dir, { recursive: true })
    const metadata = Metadata.open(path.join(dir, 'metadata.db'), { now: init.now })
    try {
      const inner = init.blockstore ?? await openLayout(dir, metadata, init)
      const store = new ContentStore(dir, inner, metadata, init)
      await store.#recover(metadata.fresh ? 'new metadata database' : metadata.stat('open') !== 0 ? 'unclean shutdown' : undefined)
      metadata.setStat('open', 1, true)
      return store
    } catch (err) {
      metadata.close()
      throw err
    }
  }

  /** Rebuilds the block index from the blockstore when it may be stale. */
  async #recover (why: string | undefined): Promise<void> {
    if (why == null) return
    const started = Date.now()
    this.metadata.beginIndexRebuild()
    let batch: Array<{ mh: Uint8Array, size: number }> = []
    for await (const { cid, size } of this.#inner.list()) {
      batch.push({ mh: cid.multihash.bytes, size })
      if (batch.length >= 1000) {
        this.metadata.seeBlocks(batch)
        batch = []
      }
    }
    this.metadata.seeBlocks(batch)
    const { added, removed } = this.metadata.finishIndexRebuild()
    const log = why === 'new metadata database' && added === 0 ? this.#log.debug : this.#log.info
    log(`rebuilt the block index (${why})`, { added, removed, ms: Date.now() - started })
  }

  /** Waits for sessions and GC to end, makes everything durable, and closes the database. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#notInSession('close()')
    this.#closing.abort()
    await Promise.all(this.#running.values())
    const release = await this.#lock.acquire(true)
    try {
      if (this.#closed) return
      this.#index.flush()
      await this.#inner.sync()
      await this.#inner.close?.()
      this.metadata.setStat('open', 0, true)
      this.metadata.close()
      this.#closed = true
    } finally {
      release()
    }
  }

  /**
   * Runs `fn` holding the shared write lock: GC does not start until `fn`
   * has finished, so nothing `fn` wrote or found already stored is removed
   * before `fn` pinned it. Nested sessions share the outer one's lock.
   */
  async writeSession<T> (fn: () => Promise<T>, options: AbortOptions = {}): Promise<T> {
    if (this.#inSession.getStore() === true) return await fn()
    this.#checkOpen()
    const release = await this.#lock.acquire(false, options.signal)
    try {
      this.#checkOpen() // close() may have run while this session waited
      return await this.#inSession.run(true, fn)
    } finally {
      release()
    }
  }

  /**
   * Pins `root`: walks its DAG through the blockstore (every block read is
   * verified) and records the blocks it covers. When a block is missing the
   * walk fails with BlockNotFoundError naming that block, and nothing is
   * pinned. Pinning a pinned root again does nothing, except that a direct
   * pin becomes recursive; a recursive pin cannot be made direct.
   */
  async pin (root: CID, options: PinOptions = {}): Promise<Pin> {
    return await this.writeSession(async () => {
      const recursive = options.recursive ?? true
      const mode: PinMode = recursive ? 'recursive' : 'direct'
      const key = pinKey(root)
      const existing = this.metadata.getPin(key)
      if (existing?.mode === 'recursive' && !recursive) {
        throw new InvalidArgumentError(`Cannot pin "${root}" directly: it is already pinned recursively (unpin it first)`)
      }
      if (existing?.mode === mode) return toPin(existing)
      const walk = this.metadata.beginWalk()
      try {
        await this.#walk(root, recursive, walk, options)
        // the pin must never name blocks whose directory entries are not durable yet
        await this.blocks.sync({ signal: options.signal })
        const row = this.metadata.commitPin(walk, { root: key, mode, name: options.name })
        this.#log.debug('pinned', { cid: key, mode, blocks: row.blocks, bytes: row.bytes })
        return toPin(row)
      } finally {
        this.metadata.abortWalk(walk)
      }
    }, options)
  }

  async #walk (root: CID, recursive: boolean, walk: number, options: PinOptions): Promise<void> {
    const inner = new AbortController()
    const signal = options.signal == null ? inner.signal : AbortSignal.any([inner.signal, options.signal])
    const reads = new Semaphore(this.#walkConcurrency)
    let failure: { err: unknown } | undefined
    let blocks = 0
    let bytes = 0
    const fail = (err: unknown): void => {
      // the first failure wins; the aborts it causes in other branches are not news
      if (failure != null || (inner.signal.aborted && err instanceof AbortedError)) return
      failure = { err }
      inner.abort()
    }
    const visit = async (cid: CID): Promise<void> => {
      try {
        if (failure != null || !this.metadata.claim(walk, cid.multihash.bytes)) return
        const known = cid.code === RAW_CODE ? options.storedRawBlocks?.get(multihashKey(cid)) : undefined
        if (known != null) {
          this.metadata.sized(walk, cid.multihash.bytes, known)
          blocks++
          bytes += known
          options.onProgress?.({ type: 'pin:block', detail: { cid, blocks, bytes } })
          return
        }
        let data: Uint8Array
        await reads.acquire(signal)
        try {
          throwIfAborted(signal, `Pinning "${root}"`)
          data = await this.blocks.get(cid, { signal })
        } finally {
          reads.release()
        }
        this.metadata.sized(walk, cid.multihash.bytes, data.length)
        blocks++
        bytes += data.length
        options.onProgress?.({ type: 'pin:block', detail: { cid, blocks, bytes } })
        if (recursive) await Promise.all(childLinks(cid, data).map(visit))
      } catch (err) {
        fail(err instanceof BlockNotFoundError ? incomplete(root, cid) : err)
      }
    }
    await visit(root)
    if (failure != null) throw failure.err
    throwIfAborted(options.signal, `Pinning "${root}"`)
  }

  /** Removes a pin (NotPinnedError when `root` is not a pin root). Its blocks go at the next GC unless covered otherwise. */
  async unpin (root: CID, options: AbortOptions = {}): Promise<void> {
    this.#checkOpen()
    throwIfAborted(options.signal, `Unpinning "${root}"`)
    if (this.metadata.removePin(pinKey(root))) return
    const covering = this.metadata.pinCount(root.multihash.bytes)
    throw new NotPinnedError(root.toString(), covering > 0
      ? `Cannot unpin "${root}": it is not a pin root (it is inside ${covering} pinned DAG${covering === 1 ? '' : 's'}; unpin ${covering === 1 ? 'that root' : 'those roots'} instead)`
      : `Cannot unpin "${root}": it is not pinned`)
  }

  async listPins (): Promise<Pin[]> {
    this.#checkOpen()
    return this.metadata.listPins().map(toPin)
  }

  /** The pin whose root is `root`, if any. */
  async getPin (root: CID): Promise<Pin | undefined> {
    this.#checkOpen()
    const row = this.metadata.getPin(pinKey(root))
    return row == null ? undefined : toPin(row)
  }

  /**
   * How a block is pinned, as Kubo says it: `recursive` or `direct` when it is
   * a pin's root, `indirect` (with the recursive root it is `through`) when it
   * is inside a recursive pin's DAG; undefined when no pin covers it.
   */
  async pinStatus (cid: CID): Promise<{ mode: PinMode | 'indirect', through?: CID } | undefined> {
    this.#checkOpen()
    const pin = this.metadata.getPin(pinKey(cid))
    if (pin != null) return { mode: pin.mode }
    const root = this.metadata.recursiveRootCovering(cid.multihash.bytes)
    return root == null ? undefined : { mode: 'indirect', through: CID.parse(root) }
  }

  /**
   * Kubo's indirect pins: every block inside a recursive pin's DAG that is no
   * pin's root, once, with the first recursive root found to cover it, as its
   * links name it. Walks the pinned DAGs here (all their blocks are stored),
   * reading only the blocks that can have links; GC waits meanwhile.
   */
  async indirectPins (options: AbortOptions = {}): Promise<Array<{ cid: CID, through: CID }>> {
    return await this.writeSession(async () => {
      const pins = this.metadata.listPins()
      const roots = new Set(pins.map(p => multihashKey(CID.parse(p.root))))
      const seen = new Set<string>()
      const out: Array<{ cid: CID, through: CID }> = []
      for (const pin of pins) {
        if (pin.mode !== 'recursive') continue
        const root = CID.parse(pin.root)
        for await (const { cid } of walkStructure(root, this.blocks, { signal: options.signal, concurrency: this.#walkConcurrency })) {
          const key = multihashKey(cid)
          if (roots.has(key) || seen.has(key)) continue
          seen.add(key)
          out.push({ cid, through: root })
        }
      }
      return out
    }, options)
  }

  /** Whether a pin covers the block (as its root or inside a recursive pin's DAG). */
  async isPinned (cid: CID): Promise<boolean> {
    this.#checkOpen()
    return this.metadata.pinCount(cid.multihash.bytes) > 0
  }

  /**
   * Marks a block as held for the network (replication): GC keeps it until
   * `release`. Call it inside the writeSession that stored the block.
   */
  async hold (cid: CID, options: { replicas?: string[] } = {}): Promise<void> {
    await this.holdMany([cid], options)
  }

  /** `hold` for many blocks at once (one durable transaction). */
  async holdMany (cids: CID[], options: { replicas?: string[] } = {}): Promise<void> {
    this.#checkOpen()
    const replicas = options.replicas == null ? undefined : JSON.stringify(options.replicas)
    this.metadata.holdMany(cids.map(cid => ({ mh: cid.multihash.bytes, cid: cid.toString(), replicas })))
  }

  /** False when the block was not held. */
  async release (cid: CID): Promise<boolean> {
    this.#checkOpen()
    return this.metadata.release(cid.multihash.bytes)
  }

  /**
   * Removes those of `cids` that no pin covers and that are not held (a
   * replica handed off), under the same exclusive lock as GC; the bytes freed.
   */
  async drop (cids: CID[], options: AbortOptions = {}): Promise<{ removedBlocks: number, freedBytes: number }> {
    this.#notInSession('drop()')
    this.#checkOpen()
    const release = await this.#lock.acquire(true, options.signal)
    let removedBlocks = 0
    let freedBytes = 0
    try {
      this.#checkOpen()
      this.#index.flush()
      for (const cid of cids) {
        const mh = cid.multihash.bytes
        if (this.metadata.isProtected(mh) || !await this.#inner.has(cid)) continue
        const size = this.metadata.blockSize(mh) ?? 0
        await this.#inner.delete(cid)
        this.metadata.removeBlocks([mh])
        removedBlocks++
        freedBytes += size
      }
      if (removedBlocks > 0) await this.#inner.sync()
      return { removedBlocks, freedBytes }
    } finally {
      release()
      if (removedBlocks > 0) this.#compactSoon()
    }
  }

  async isHeld (cid: CID): Promise<boolean> {
    this.#checkOpen()
    return this.metadata.getHeld(cid.multihash.bytes) != null
  }

  /**
   * Removes every stored block that no pin covers and that is not held for
   * the network. Waits for running write sessions; sessions that start
   * meanwhile wait for it. Aborting stops it between blocks (AbortedError;
   * what was removed stays removed).
   */
  async gc (options: GcOptions = {}): Promise<GcResult> {
    this.#notInSession('gc()')
    this.#checkOpen()
    const release = await this.#lock.acquire(true, options.signal)
    if (this.#closed) {
      release()
      this.#checkOpen()
    }
    const started = Date.now()
    let removedBlocks = 0
    let freedBytes = 0
    try {
      this.#index.flush()
      for await (const { cid, size } of this.#inner.list({ signal: options.signal })) {
        throwIfAborted(options.signal, 'Garbage collection')
        const mh = cid.multihash.bytes
        if (this.metadata.isProtected(mh)) continue
        await this.#inner.delete(cid)
        this.metadata.removeBlocks([mh])
        removedBlocks++
        freedBytes += size
        options.onProgress?.({ type: 'gc:removed', detail: { cid, size, removedBlocks, freedBytes } })
        // (a store whose deletes are synchronous would hold the event loop for the whole pass)
        if (removedBlocks % 64 === 0) await new Promise(resolve => setImmediate(resolve))
      }
      await this.#inner.sync()
      return { removedBlocks, freedBytes }
    } finally {
      try {
        this.metadata.addStats({ gc_runs: 1, gc_removed_blocks: removedBlocks, gc_freed_bytes: freedBytes })
        this.metadata.setStat('gc_last', Date.now())
        this.#log.info('garbage collection', { removedBlocks, freedBytes, ms: Date.now() - started })
      } finally {
        release()
        if (removedBlocks > 0) this.#compactSoon()
      }
    }
  }

  async stat (options: AbortOptions = {}): Promise<StoreStat> {
    this.#checkOpen()
    throwIfAborted(options.signal, 'Reading store stats')
    this.#index.flush()
    const fsStat = await fs.statfs(this.dir)
    return {
      blocks: this.metadata.stat('blocks'),
      bytes: this.metadata.stat('bytes'),
      pins: this.metadata.pinTotals().pins,
      freeBytes: Number(fsStat.bavail) * Number(fsStat.bsize),
      totalBytes: Number(fsStat.blocks) * Number(fsStat.bsize),
      maxBytes: this.#index.max,
      cacheBytes: this.metadata.unprotectedTotals().bytes
    }
  }

  /** makeRoom, or StorageFullError saying what the quota is and how much of it is used. */
  async ensureRoom (bytes: number, what: string, options: AbortOptions = {}): Promise<void> {
    if (!await this.makeRoom(bytes, options)) throw quotaUsedUp(what, this.#index.used(), this.#index.max)
  }

  /** Bytes of blocks stored (and being stored) against the quota (0: none). */
  usage (): { usedBytes: number, maxBytes: number } {
    return { usedBytes: this.#index.used(), maxBytes: this.#index.max }
  }

  /**
   * Whether `bytes` more fit under the quota, after reclaiming cache (GC of
   * what no pin covers and is not held) when they would not. Not inside a
   * write session (GC waits for sessions).
   */
  async makeRoom (bytes: number, options: AbortOptions = {}): Promise<boolean> {
    const fits = (): boolean => this.#index.max === 0 || this.#index.used() + bytes <= this.#index.max
    if (fits()) return true
    this.#index.flush()
    if (this.metadata.unprotectedTotals().bytes > 0) {
      this.#log.info('storage quota reached: reclaiming cache first')
      await this.gc(options)
    }
    return fits()
  }

  /** After GC or a drop: reclaim the dead space in the background (the packed store copies live records a slice at a time; adds go on). */
  #compactSoon (): void {
    if (this.#inner.compact == null) return
    this.#background('compact', 'could not compact the block store', async () => {
      const result = await this.#inner.compact?.({ signal: this.#closing.signal })
      this.#log.debug('compacted the block store', { result })
    })
  }

  /** A put was refused for the quota: reclaim cache in the background. */
  #reclaimSoon (): void {
    this.#background('reclaim', 'could not reclaim cache for the storage quota', async () => { await this.makeRoom(1) })
  }

  readonly #running = new Map<'compact' | 'reclaim', Promise<void>>()
  /** Runs `fn` after this turn of the event loop, unless one of its `kind` runs already or the store closed; a failure is logged. */
  #background (kind: 'compact' | 'reclaim', failure: string, fn: () => Promise<void>): void {
    if (this.#running.has(kind) || this.#closed) return
    this.#running.set(kind, new Promise(resolve => setImmediate(resolve))
      .then(async () => { if (!this.#closed) await fn() })
      .catch((err: Error) => { if (!this.#closed) this.#log.warn(failure, { error: err.message }) })
      .finally(() => { this.#running.delete(kind) }))
  }

  /** Wait for background compaction (tests, benchmarks). */
  async compacted (): Promise<void> {
    await this.#running.get('compact')
  }

  /** Where a block's bytes are on disk (tests and tools). */
  locate (cid: CID): { file: string, offset: number, length: number } | undefined {
    return this.#inner.locate?.(cid)
  }

  #checkOpen (): void {
    if (this.#closed) throw new InvalidArgumentError(`The content store at ${this.dir} is closed`)
  }

  #notInSession (what: string): void {
    if (this.#inSession.getStore() === true) {
      throw new InvalidArgumentError(`${what} cannot run inside a writeSession: it would wait for that session forever`)
    }
  }
}

/** Pins are keyed by the v1 form of their root. */
function pinKey (root: CID): string {
  return root.toV1().toString()
}

function toPin (row: PinRow): Pin {
  const pin: Pin = { cid: CID.parse(row.root), mode: row.mode, created: new Date(row.created), blocks: row.blocks, bytes: row.bytes }
  if (row.name != null) pin.name = row.name
  return pin
}

function incomplete (root: CID, missing: CID): BlockNotFoundError {
  return new BlockNotFoundError(missing.toString(), missing.equals(root)
    ? `Cannot pin "${root}": its root block is not stored on this node`
    : `Cannot pin "${root}": block "${missing}" of its DAG is not stored on this node (the DAG is incomplete); nothing was pinned`)
}

/**
 * The blockstore as ContentStore exposes it: every call goes to the inner
 * store, and the block index follows (rows added in batches, one
 * transaction per turn of the event loop; removed at once).
 */
class IndexedBlockstore implements Blockstore {
  readonly #inner: Blockstore
  readonly #metadata: Metadata
  readonly #log: Logger
  readonly #pending = new Map<string, { mh: Uint8Array, size: number }>()
  #scheduled = false
  /** the quota (0: none), the bytes of pending index rows, and of puts in progress */
  readonly max: number
  readonly #onFull: () => void
  #pendingBytes = 0
  #reserved = 0

  constructor (inner: Blockstore, metadata: Metadata, log: Logger, max: number, onFull: () => void) {
    this.#inner = inner
    this.#metadata = metadata
    this.#log = log
    this.max = max
    this.#onFull = onFull
  }

  get keepsNoBytes (): boolean {
    return this.#inner.keepsNoBytes === true
  }

  /** Bytes stored and being stored (a block put twice meanwhile may count twice until the index catches up). */
  used (): number {
    return this.#metadata.stat('bytes') + this.#pendingBytes + this.#reserved
  }

  async put (cid: CID, bytes: Uint8Array, options?: PutOptions): Promise<void> {
    const key = blockKey(cid)
    if (this.max > 0) {
      // checked and reserved in one turn, so concurrent puts cannot all slip under the limit
      const used = this.used()
      if (used + bytes.length > this.max && !this.#pending.has(key) && !await this.#inner.has(cid, options)) {
        this.#onFull()
        throw quotaUsedUp(`Cannot store block "${cid}"`, used, this.max)
      }
      this.#reserved += bytes.length
      try {
        await this.#inner.put(cid, bytes, options)
      } finally {
        this.#reserved -= bytes.length
      }
    } else {
      await this.#inner.put(cid, bytes, options)
    }
    if (!this.#pending.has(key)) this.#pendingBytes += bytes.length
    this.#pending.set(key, { mh: cid.multihash.bytes, size: bytes.length })
    if (!this.#scheduled) {
      this.#scheduled = true
      setImmediate(() => {
        this.#scheduled = false
        try {
          this.flush()
        } catch (err) {
          // the index is rebuilt at the next open (the `open` flag stays set)
          this.#log.error('cannot update the block index', { error: (err as Error).message })
        }
      })
    }
  }

  async putMany (blocks: Iterable<Block> | AsyncIterable<Block>, options?: PutManyOptions): Promise<void> {
    await putManyWith(async (cid, bytes, opts) => { await this.put(cid, bytes, opts) }, blocks, options)
  }

  /** Writes pending index rows. */
  flush (): void {
    if (this.#pending.size === 0) return
    const rows = [...this.#pending.values()]
    this.#pending.clear()
    this.#pendingBytes = 0
    this.#metadata.addBlocks(rows)
  }

  async get (cid: CID, options?: GetOptions): Promise<Uint8Array> {
    try {
      return await this.#inner.get(cid, options)
    } catch (err) {
      if (err instanceof CorruptBlockError) this.#forget(cid)
      throw err
    }
  }

  async has (cid: CID, options?: AbortOptions): Promise<boolean> {
    return await this.#inner.has(cid, options)
  }

  async delete (cid: CID, options?: AbortOptions): Promise<void> {
    await this.#inner.delete(cid, options)
    this.#forget(cid)
  }

  #forget (cid: CID): void {
    const pending = this.#pending.get(blockKey(cid))
    if (pending != null) this.#pendingBytes -= pending.size
    this.#pending.delete(blockKey(cid))
    this.#metadata.removeBlocks([cid.multihash.bytes])
  }

  list (options?: AbortOptions): AsyncIterable<BlockInfo> {
    return this.#inner.list(options)
  }

  async sync (options?: AbortOptions): Promise<void> {
    await this.#inner.sync(options)
  }
}

/**
 * A readers-writer lock, fair in arrival order: a waiting writer makes later
 * readers wait, so GC cannot be starved by a stream of adds.
 */
export class RwLock {
  #readers = 0
  #writer = false
  readonly #queue: Array<{ exclusive: boolean, grant: () => void }> = []

  /** Resolves to the release function. */
  async acquire (exclusive: boolean, signal?: AbortSignal): Promise<() => void> {
    throwIfAborted(signal, exclusive ? 'Waiting for exclusive access to the store' : 'Waiting for write access to the store')
    if (this.#queue.length === 0 && this.#free(exclusive)) {
      this.#take(exclusive)
      return this.#releaser(exclusive)
    }
    await new Promise<void>((resolve, reject) => {
      const entry = {
        exclusive,
        grant: () => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        }
      }
      const onAbort = (): void => {
        const i = this.#queue.indexOf(entry)
        if (i >= 0) this.#queue.splice(i, 1)
        this.#drain()
        reject(new AbortedError(exclusive ? 'Waiting for exclusive access to the store was aborted' : 'Waiting for write access to the store was aborted'))
      }
      this.#queue.push(entry)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
    return this.#releaser(exclusive)
  }

  /** For tests and logs: what holds the lock and how many wait. */
  get state (): { readers: number, writer: boolean, waiting: number } {
    return { readers: this.#readers, writer: this.#writer, waiting: this.#queue.length }
  }

  #free (exclusive: boolean): boolean {
    return exclusive ? !this.#writer && this.#readers === 0 : !this.#writer
  }

  #take (exclusive: boolean): void {
    if (exclusive) this.#writer = true
    else this.#readers++
  }

  #releaser (exclusive: boolean): () => void {
    let released = false
    return () => {
      if (released) return
      released = true
      if (exclusive) this.#writer = false
      else this.#readers--
      this.#drain()
    }
  }

  #drain (): void {
    while (this.#queue.length > 0 && this.#free(this.#queue[0].exclusive)) {
      const next = this.#queue.shift()
      if (next == null) break
      this.#take(next.exclusive)
      next.grant()
    }
  }
}

/**
 * The blockstore of `layout` under `dir`; blocks the repo holds in the other
 * layout are moved into it first (verified; removed from the old one only
 * once durable in the new one).
 */
async function openLayout (dir: string, metadata: Metadata, init: ContentStoreInit): Promise<Blockstore> {
  const packed = async (): Promise<PackedBlockstore> => await PackedBlockstore.open({ root: dir, metadata, fsync: init.fsync, segmentBytes: init.segmentBytes, onCorrupt: init.onCorrupt })
  const flat = async (): Promise<FsBlockstore> => await FsBlockstore.open({ root: dir, fsync: init.fsync, maxConcurrentWrites: init.maxConcurrentWrites, onCorrupt: init.onCorrupt })
  const layout = init.layout ?? 'packed'
  const hasFlat = await fs.stat(path.join(dir, 'blocks')).then(() => true, () => false)
  const hasPacked = await fs.stat(path.join(dir, 'packs')).then(() => true, () => false)
  if (layout === 'packed') {
    const store = await packed()
    if (hasFlat) {
      await moveBlocks(await flat(), store, path.join(dir, 'blocks'), init.logger ?? silentLogger)
      await fs.rm(path.join(dir, 'tmp'), { recursive: true, force: true })
      // the block index is rebuilt from the new store (corrupt blocks were not moved)
      metadata.setStat('open', 1, true)
    }
    return store
  }
  const store = await flat()
  if (hasPacked) {
    const old = await packed()
    await moveBlocks(old, store, path.join(dir, 'packs'), init.logger ?? silentLogger)
    await old.close()
    metadata.transaction(() => {
      metadata.db.exec('DELETE FROM pack_blocks')
      metadata.db.exec('DELETE FROM pack_segments')
    })
    metadata.setStat('open', 1, true)
  }
  return store
}

/** Copies every block of `from` into `to` (verified), syncs, then removes `from`'s directory. */
async function moveBlocks (from: Blockstore, to: Blockstore, fromDir: string, log: Logger): Promise<void> {
  const started = Date.now()
  let blocks = 0
  let bytes = 0
  let lost = 0
  for await (const { cid } of from.list()) {
    try {
      const data = await from.get(cid)
      await to.put(cid, data, { verified: true })
      blocks++
      bytes += data.length
    } catch (err) {
      // a corrupt block is quarantined by `from` and not moved
      if (!(err instanceof CorruptBlockError) && !(err instanceof BlockNotFoundError)) throw err
      lost++
    }
    if (blocks % 1024 === 0) await to.sync()
  }
  await to.sync()
  await fs.rm(fromDir, { recursive: true, force: true })
  if (blocks + lost > 0) log.info('moved the repo\'s blocks to the configured layout', { from: path.basename(fromDir), blocks, bytes, corrupt: lost, ms: Date.now() - started })
}

function quotaUsedUp (what: string, used: number, max: number): StorageFullError {
  return new StorageFullError(`${what}: this node's storage quota is used up (${used} of ${max} bytes, config "storageMax")`)
}
