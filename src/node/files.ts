/**
 * Files on a node: add (import, durable write, pin, replicate to the replica
 * sets), cat / ls / stat (local first, else from the network), pins, GC and
 * repo stats. What the RPC layer calls for content.
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { sha256 } from 'multiformats/hashes/sha2'
import type { ProgressEvent } from 'progress-events'
import { MAX_BLOCK_BYTES, multihashKey, parseCid } from '../content/blocks.ts'
import type { BlockSink } from '../content/blocks.ts'
import { exportCar, readCar } from '../content/car.ts'
import { contentPathName, parseContentPath, resolvePath } from '../content/path.ts'
import type { ContentPath } from '../content/path.ts'
import { exportTar } from '../content/tar.ts'
import type { ExportCarOptions } from '../content/car.ts'
import { depthFirst, walkDag } from '../content/dag.ts'
import { cat, ls, statContent } from '../content/exporter.ts'
import type { ContentStat, LsEntry } from '../content/exporter.ts'
import { importDirectory, importFile, importSymlink } from '../content/importer.ts'
import type { DirectoryEntryInput, ImportedEntry, ImportOptions, ImportProgress } from '../content/importer.ts'
import { InvalidArgumentError, NotPinnedError, UnsupportedError } from '../errors.ts'
import type { Logger } from '../platform/logger.ts'
import type { BlockFetcher } from '../replication/fetch.ts'
import type { ReplicationProgress, Replicator, ReplicationReport } from '../replication/push.ts'
import type { BlockReplicaService } from '../replication/service.ts'
import type { ReplicaStatus } from '../replication/status.ts'
import type { ContentStore, GcProgressEvent, GcResult, PinProgressEvent, StoreStat } from '../store/content-store.ts'

export interface AddOptions extends Omit<ImportOptions, 'onProgress'> {
  /** pin the root (default true) */
  pin?: boolean
  /** replica set size for this add (default: the node's k) */
  replicas?: number
  /** confirmed copies each block needs (default: the node's write quorum, at most `replicas`); never lowered */
  quorum?: number
  onProgress?(event: AddProgress): void
}

/**
 * An add's progress, in the one shape progress has throughout (Helia's
 * ProgressEvent, `{type, detail}`): file bytes read and chunked; blocks
 * stored here (new ones, each counted once); copies confirmed by the
 * replica sets against those wanted so far.
 */
export type AddProgress =
  | ImportProgress
  | ProgressEvent<'add:stored', { blocks: number, bytes: number }>
  | ReplicationProgress

/** A pin's progress: blocks read so far (here or from the network), then blocks covered. */
export type PinProgress = ProgressEvent<'pin:fetched', { blocks: number, bytes: number }> | PinProgressEvent

export interface AddResult {
  cid: string
  /** file bytes */
  size: number
  blocks: number
  replication: ReplicationReport
  /** a directory add: every entry below the root, in the order `ipfs add -r` prints them (importer.ts) */
  entries?: AddedEntry[]
}

export interface AddedEntry {
  path: string
  cid: string
  type: ImportedEntry['type']
  size: number
}

/** The longest symlink target an add accepts (for the byte routes, which read it before the import). */
export { MAX_SYMLINK_TARGET_BYTES } from '../content/importer.ts'

export const PIN_TYPES = ['recursive', 'direct', 'indirect', 'all'] as const
export type PinType = typeof PIN_TYPES[number]

export interface PinEntry {
  cid: string
  mode: 'recursive' | 'direct' | 'indirect'
  /** roots: the blocks and bytes the pin covers, and when it was made */
  blocks?: number
  bytes?: number
  created?: string
  /** indirect: the recursive pin root whose DAG holds it */
  through?: string
}


export interface ImportCarOptions {
  /** pin every root of the CAR, recursively (default true, as Kubo's `dag import --pin-roots`) */
  pin?: boolean
  replicas?: number
  quorum?: number
  signal?: AbortSignal
  onProgress?(event: AddProgress): void
}

export interface ImportCarResult {
  /** the roots the CAR's header names */
  roots: string[]
  pinned: boolean
  /** blocks in the CAR (each time it holds one) */
  blocks: number
  /** bytes of those blocks */
  bytes: number
  replication: ReplicationReport
}

export type BlockCodec = 'raw' | 'dag-pb'

export interface BlockPutOptions {
  /** the CID's codec (default raw, as Kubo's `block put`); dag-pb blocks must decode as dag-pb */
  codec?: BlockCodec
  /** pin the block (default false, as Kubo) */
  pin?: boolean
  replicas?: number
  quorum?: number
  signal?: AbortSignal
}

export interface BlockStat {
  cid: string
  size: number
  /** the CID's codec by name (`dag-pb`, `raw`, ...; `0x...` when shoal has no name for it) */
  codec: string
}

export interface RefsOptions {
  /** every link below, not only the root's (Kubo's `refs -r`) */
  recursive?: boolean
  /** each CID once (Kubo's `refs --unique`) */
  unique?: boolean
  /** with `recursive`: how deep (1: the root's links); default no limit */
  maxDepth?: number
  signal?: AbortSignal
}

/** The names shoal gives the codecs it reads. */
const CODEC_NAMES: Record<number, string> = { [raw.code]: 'raw', [dagPb.code]: 'dag-pb', 0x71: 'dag-cbor', 0x0129: 'dag-json', 0x0200: 'json' }

function codecName (code: number): string {
  return CODEC_NAMES[code] ?? `0x${code.toString(16)}`
}

/**
 * What names content where Files reads it: a CID, `CID/dir/file`,
 * `/ipfs/CID/dir/file` (content/path.ts), or such a path already parsed.
 */
export type ContentRef = string | ContentPath

export interface FilesInit {
  store: ContentStore
  fetcher: BlockFetcher
  /** replication of adds (quorum), replica status; repair yields to the requests marked here */
  replicas: BlockReplicaService
  logger: Logger
}

// what the byte routes need of the content layer (rpc/ reaches content/ only through node/)
export { MAX_BLOCK_BYTES } from '../content/blocks.ts'
export { CAR_CONTENT_TYPE, parseEntityBytes } from '../content/car.ts'
export { contentPathFromUrl, contentPathName } from '../content/path.ts'
export { TAR_CONTENT_TYPE } from '../content/tar.ts'
export type { ContentPath } from '../content/path.ts'
export type { DagScope } from '../content/car.ts'

/** What an import wrote: the roots to pin, the bytes, and for a tree every entry. */
interface Imported { roots: CID[], size: number, entries?: AddedEntry[] }

/** Puts blocks into the sink; says what it wrote. */
type ImportRun = (sink: BlockSink, options: ImportOptions) => Promise<Imported>

interface Written extends Imported {
  replication: ReplicationReport
}

function oneRoot (w: Written): AddResult {
  return { cid: w.roots[0].toString(), size: w.size, blocks: w.replication.blocks, replication: w.replication, ...(w.entries == null ? {} : { entries: w.entries }) }
}

export class Files {
  private readonly init: FilesInit

  constructor (init: FilesInit) {
    this.init = init
  }

  async add (source: AsyncIterable<Uint8Array>, options: AddOptions = {}): Promise<AddResult> {
    return oneRoot(await this.addWith(async (sink, importOptions) => {
      const r = await importFile(source, sink, importOptions)
      return { roots: [r.cid], size: r.size }
    }, options))
  }

  async addDirectory (entries: AsyncIterable<DirectoryEntryInput>, options: AddOptions = {}): Promise<AddResult> {
    return oneRoot(await this.addWith(async (sink, importOptions) => {
      const r = await importDirectory(entries, sink, importOptions)
      return { roots: [r.cid], size: r.bytes, entries: r.entries.map(e => ({ ...e, cid: e.cid.toString() })) }
    }, options))
  }

  /**
   * `ipfs dag import`: a CAR's blocks, each verified against its CID, stored
   * and replicated as an add's are (the same write quorum), then its roots
   * pinned. The CAR is read twice: first into a spool file in the repo while
   * every block is verified (so a CAR with one bad block, or cut short, is
   * refused with nothing stored), then from the spool into the store. Memory
   * stays flat whatever its size; the spool is removed at the end.
   */
  async importCar (source: AsyncIterable<Uint8Array>, options: ImportCarOptions = {}): Promise<ImportCarResult> {
    const pin = options.pin !== false
    const spool = await this.spoolCar(source, options.signal)
    try {
      if (pin) {
        const unwalkable = spool.roots.find(r => r.code !== dagPb.code && r.code !== raw.code)
        if (unwalkable != null) {
          throw new UnsupportedError(`Cannot pin root "${unwalkable}" of the CAR: shoal pins dag-pb and raw DAGs only (codec ${codecName(unwalkable.code)}); import it without pinning the roots`)
        }
      }
      const { store } = this.init
      if (store.usage().maxBytes > 0) await store.ensureRoom(spool.bytes, 'Cannot import the CAR', { signal: options.signal })
      const r = await this.addWith(async (sink, { signal }) => {
        const car = await readCar(fs.createReadStream(spool.file), { signal })
        for await (const block of car.blocks) await sink.put(block.cid, block.bytes, { signal })
        return { roots: car.roots, size: spool.bytes }
      }, { ...options, pin })
      return { roots: r.roots.map(c => c.toString()), pinned: pin && r.roots.length > 0, blocks: spool.blocks, bytes: spool.bytes, replication: r.replication }
    } finally {
      await fs.promises.rm(spool.file, { force: true })
    }
  }

  /** The CAR copied into a spool file while every block is verified; its roots, its blocks and their bytes. */
  private async spoolCar (source: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<{ file: string, roots: CID[], blocks: number, bytes: number }> {
    const dir = this.spoolDir()
    await fs.promises.mkdir(dir, { recursive: true })
    const file = path.join(dir, `import-${process.pid}-${randomBytes(6).toString('hex')}.car`)
    const out = await fs.promises.open(file, 'w', 0o600)
    const teed = (async function * () {
      for await (const chunk of source) {
        for (let done = 0; done < chunk.byteLength;) done += (await out.write(chunk, done)).bytesWritten
        yield chunk
      }
    })()
    try {
      const car = await readCar(teed, { signal })
      let blocks = 0
      let bytes = 0
      for await (const block of car.blocks) {
        blocks++
        bytes += block.bytes.byteLength
      }
      await out.close()
      return { file, roots: car.roots, blocks, bytes }
    } catch (err) {
      await out.close().catch(() => {})
      await fs.promises.rm(file, { force: true })
      throw err
    } finally {
      await teed.return()
    }
  }

  /** Where CAR imports are spooled: `<repo>/spool/`, emptied by `clearSpool()` at start. */
  private spoolDir (): string {
    return path.join(this.init.store.dir, 'spool')
  }

  /** Remove what an import that was cut off (a crash) left in the spool. */
  async clearSpool (): Promise<void> {
    await fs.promises.rm(this.spoolDir(), { recursive: true, force: true })
  }

  /**
   * `ipfs dag export` (and the trustless gateway's CAR answers): a CAR of
   * `cidText`'s DAG from here or the network (see content/car.ts for the
   * order and the options). Only a whole-DAG export prefetches children.
   */
  async * exportCar (cidText: string, options: ExportCarOptions = {}): AsyncGenerator<Uint8Array> {
    const root = parseCid(cidText)
    const prefetch = (options.dagScope ?? 'all') === 'all' && options.entityBytes == null
    const done = this.init.replicas.userOperation()
    try {
      yield * exportCar(async (cid, o) => await this.init.fetcher.get(cid, { ...o, prefetch }), root, { concurrency: 32, ...options })
    } finally {
      done()
    }
  }

  /** `ipfs block get`: a block's bytes, from here or the network, verified (an identity CID carries its own). */
  async blockGet (cidText: string, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    const cid = parseCid(cidText)
    if (cid.multihash.code === identity.code) return cid.multihash.digest
    const done = this.init.replicas.userOperation()
    try {
      return await this.init.fetcher.get(cid, { signal: options.signal, prefetch: false })
    } finally {
      done()
    }
  }

  async blockStat (cidText: string, options: { signal?: AbortSignal } = {}): Promise<BlockStat> {
    const cid = parseCid(cidText)
    const bytes = await this.blockGet(cidText, options)
    return { cid: cid.toString(), size: bytes.byteLength, codec: codecName(cid.code) }
  }

  /**
   * `ipfs block put`: one block, its CID (v1, sha2-256) computed here, stored
   * and replicated as an add's blocks are (the same write quorum).
   */
  async blockPut (bytes: Uint8Array, options: BlockPutOptions = {}): Promise<{ cid: string, size: number, replication: ReplicationReport }> {
    const codec = options.codec ?? 'raw'
    if (codec !== 'raw' && codec !== 'dag-pb') throw new InvalidArgumentError(`Invalid cid-codec "${String(codec)}": expected raw or dag-pb`)
    if (bytes.byteLength > MAX_BLOCK_BYTES) throw new InvalidArgumentError(`Cannot put a block of ${bytes.byteLength} bytes: the limit is ${MAX_BLOCK_BYTES}`)
    if (codec === 'dag-pb') {
      try {
        dagPb.decode(bytes)
      } catch (err) {
        throw new InvalidArgumentError(`Cannot put the block as dag-pb: it does not decode as dag-pb (${(err as Error).message})`, { cause: err })
      }
    }
    const cid = CID.createV1(codec === 'raw' ? raw.code : dagPb.code, await sha256.digest(bytes))
    const r = await this.addWith(async (sink, { signal }) => {
      await sink.put(cid, bytes, { signal })
      return { roots: [cid], size: bytes.byteLength }
    }, { replicas: options.replicas, quorum: options.quorum, signal: options.signal, pin: options.pin === true })
    return { cid: cid.toString(), size: bytes.byteLength, replication: r.replication }
  }

  /**
   * `ipfs refs`: the CIDs `cidText` links to (with `recursive`, every link
   * below it, depth first), from here or the network. Without `unique` a
   * block linked from several places is listed (and walked) each time.
   */
  async refs (cidText: string, options: RefsOptions = {}): Promise<string[]> {
    const root = parseCid(cidText)
    const maxDepth = options.recursive === true ? options.maxDepth : 1
    if (maxDepth != null && (!Number.isSafeInteger(maxDepth) || maxDepth < 1)) throw new InvalidArgumentError(`Invalid max-depth ${String(maxDepth)}: expected a whole number >= 1`)
    const out: string[] = []
    const done = this.init.replicas.userOperation()
    try {
      const { fetcher } = this.init
      const source = { get: async (cid: CID, o?: { signal?: AbortSignal }) => await fetcher.get(cid, { ...o, prefetch: false }) }
      for await (const b of depthFirst(root, source, { unique: options.unique === true, maxDepth, linksOnly: true, concurrency: 32, signal: options.signal })) {
        if (b.depth > 0) out.push(b.cid.toString())
      }
    } finally {
      done()
    }
    return out
  }

  /** Adds one symlink node (the link itself, as `ipfs add LINK`). */
  async addSymlink (target: string, options: AddOptions = {}): Promise<AddResult> {
    return oneRoot(await this.addWith(async (sink, importOptions) => {
      const r = await importSymlink(target, sink, importOptions)
      return { roots: [r.cid], size: r.size }
    }, options))
  }

  /**
   * Import into the local store inside a write session (GC waits), each block
   * pushed to its replica set as soon as it is stored here; make it durable,
   * pin, then wait for the pushes and check the quorum. Below quorum (fewer
   * storage nodes reachable than the quorum, or pushes that failed) the add
   * fails saying how many blocks are short and how many copies they have;
   * what was stored (and pinned) here is kept.
   */
  private async addWith (run: ImportRun, options: AddOptions): Promise<Written> {
    const { store, replicas } = this.init
    const { replicator } = replicas.beginAdd({ ...options, onProgress: options.onProgress })
    const done = replicas.userOperation()
    try {
      // near the quota: reclaim cache before the add, not halfway through it
      const { maxBytes } = store.usage()
      if (maxBytes > 0) await store.makeRoom(Math.ceil(maxBytes / 10), { signal: options.signal })
      return await this.importAndReplicate(run, replicator, options)
    } finally {
      done()
    }
  }

  private async importAndReplicate (run: ImportRun, replicator: Replicator, options: AddOptions): Promise<Written> {
    const { store, replicas } = this.init
    return await store.writeSession(async () => {
      const seen = new Set<string>()
      const storedRawBlocks = new Map<string, number>()
      const stored = { blocks: 0, bytes: 0 }
      const sink: BlockSink = {
        put: async (cid, bytes, o) => {
          await store.blocks.put(cid, bytes, { ...o, verified: true })
          const key = multihashKey(cid)
          if (seen.has(key)) return
          seen.add(key)
          stored.blocks++
          stored.bytes += bytes.byteLength
          options.onProgress?.({ type: 'add:stored', detail: { ...stored } })
          if (cid.code === raw.code) storedRawBlocks.set(key, bytes.byteLength)
          await replicator.add(cid, bytes)
        }
      }
      let imported: Imported
      try {
        imported = await run(sink, {
          cidVersion: options.cidVersion,
          chunker: options.chunker,
          rawLeaves: options.rawLeaves,
          freeInput: options.freeInput,
          shardSplitThresholdBytes: options.shardSplitThresholdBytes,
          signal: options.signal,
          onProgress: options.onProgress
        })
        await store.blocks.sync({ signal: options.signal })
        if (options.pin !== false) {
          for (const root of imported.roots) await store.pin(root, { signal: options.signal, storedRawBlocks })
        }
      } catch (err) {
        // no push outlives the add
        await replicator.finish().catch(() => {})
        throw err
      }
      const { roots, size } = imported
      const replication = await replicator.finish()
      const short = replicas.quorumError({ cid: roots.join(', '), size, pinned: options.pin !== false && roots.length > 0 }, replication)
      if (short != null) throw short
      return { ...imported, replication }
    }, { signal: options.signal })
  }

  /** Bytes of a file (a range of it), from here or the network, streamed in order. */
  async * cat (ref: ContentRef, options: { offset?: number, length?: number, signal?: AbortSignal } = {}): AsyncGenerator<Uint8Array> {
    const done = this.init.replicas.userOperation()
    try {
      const cid = await this.target(ref, options)
      yield * cat(cid, this.init.fetcher, { ...options, blockReadConcurrency: 32 })
    } finally {
      done()
    }
  }

  /**
   * What `ref` names, and (unless `replicas: false`) where its replicas are.
   * Only the DAG's nodes are read, never its leaves, unless `prefetch` says
   * that a read of the whole file follows (cat).
   */
  async stat (ref: ContentRef, options: { signal?: AbortSignal, replicas?: boolean, prefetch?: boolean } = {}): Promise<ContentStat & { replicas?: ReplicaStatus }> {
    const cid = await this.target(ref, options)
    const { fetcher } = this.init
    const prefetch = options.prefetch === true
    const stat = await statContent(cid, { get: async (c, o) => await fetcher.get(c, { ...o, prefetch }) }, options)
    if (options.replicas === false) return stat
    return { ...stat, replicas: await this.init.replicas.replicaStatus(cid, options) }
  }

  async ls (ref: ContentRef, options: { signal?: AbortSignal } = {}): Promise<LsEntry[]> {
    const out: LsEntry[] = []
    for await (const entry of ls(await this.target(ref, options), this.init.fetcher, options)) out.push(entry)
    return out
  }

  /**
   * `ipfs get -a`: what `ref` names (a tree, a file or a symlink) as a tar
   * archive, streamed (content/tar.ts); its top entry is named after the
   * path's last segment, else the CID.
   */
  async * tar (ref: ContentRef, options: { signal?: AbortSignal } = {}): AsyncGenerator<Uint8Array> {
    const p = typeof ref === 'string' ? parseContentPath(ref) : ref
    const done = this.init.replicas.userOperation()
    try {
      const cid = await this.target(p, options)
      yield * exportTar(cid, contentPathName(p), this.init.fetcher, { signal: options.signal, blockReadConcurrency: 32 })
    } finally {
      done()
    }
  }

  /** The CID `ref` names: its root, or what its path names below the root (read from here or the network). */
  private async target (ref: ContentRef, options: { signal?: AbortSignal }): Promise<CID> {
    const { root, path } = typeof ref === 'string' ? parseContentPath(ref) : ref
    if (path.length === 0) return root
    const { fetcher } = this.init
    return (await resolvePath(root, path, { get: async (c, o) => await fetcher.get(c, { ...o, prefetch: false }) }, options)).cid
  }

  /**
   * Pin what `ref` (a CID, or CID/path) names: fetch what is missing first
   * (progress `pin:fetched`, blocks and bytes read so far), then cover it
   * (`pin:block`).
   */
  async pin (ref: ContentRef, options: { recursive?: boolean, signal?: AbortSignal, onProgress?(event: PinProgress): void } = {}): Promise<{ cid: string, blocks: number, bytes: number }> {
    const { store, fetcher } = this.init
    return await store.writeSession(async () => {
      const cid = await this.target(ref, options)
      // fetch what is missing first (the fetcher keeps it), then pin from local blocks
      if (options.recursive !== false) {
        const fetched = { blocks: 0, bytes: 0 }
        for await (const block of walkDag(cid, fetcher, { signal: options.signal, concurrency: 32 })) {
          fetched.blocks++
          fetched.bytes += block.size
          options.onProgress?.({ type: 'pin:fetched', detail: { ...fetched } })
        }
      } else {
        await fetcher.get(cid, { signal: options.signal })
      }
      // the fetcher writes what it fetched in the background: wait for it
      await fetcher.flush()
      const pin = await store.pin(cid, options)
      return { cid: pin.cid.toString(), blocks: pin.blocks, bytes: pin.bytes }
    }, { signal: options.signal })
  }

  async unpin (cidText: string): Promise<void> {
    await this.init.store.unpin(parseCid(cidText))
  }

  /**
   * Pins, as `ipfs pin ls` lists them. Without `type`: the pin roots
   * (recursive and direct); `recursive`, `direct`; `indirect`: the blocks
   * inside recursive pins (each with the root it is `through`); `all`: roots
   * then indirect. With `cid`: how that CID is pinned (of `type`, when given),
   * else NotPinnedError.
   */
  async pins (options: { type?: PinType, cid?: string, signal?: AbortSignal } = {}): Promise<PinEntry[]> {
    const { store } = this.init
    const type = options.type
    if (type != null && !PIN_TYPES.includes(type)) {
      throw new InvalidArgumentError(`Invalid pin type "${String(type)}": expected ${PIN_TYPES.join(', ')}`)
    }
    if (options.cid != null) {
      const status = await store.pinStatus(parseCid(options.cid))
      if (status == null || (type != null && type !== 'all' && status.mode !== type)) {
        throw new NotPinnedError(options.cid, `"${options.cid}" is not pinned${type != null && type !== 'all' ? ` ${type}ly` : ''}`)
      }
      return [{ cid: options.cid, mode: status.mode, ...(status.through == null ? {} : { through: status.through.toString() }) }]
    }
    const roots: PinEntry[] = type === 'indirect'
      ? []
      : (await store.listPins())
          .filter(p => type == null || type === 'all' || p.mode === type)
          .map(p => ({ cid: p.cid.toString(), mode: p.mode, blocks: p.blocks, bytes: p.bytes, created: p.created.toISOString() }))
    if (type !== 'indirect' && type !== 'all') return roots
    const indirect = await store.indirectPins({ signal: options.signal })
    return [...roots, ...indirect.map(p => ({ cid: p.cid.toString(), mode: 'indirect' as const, through: p.through.toString() }))]
  }

  /** Wait until the blocks fetched so far are in the local store (the cache is written in the background). */
  async flush (): Promise<void> {
    await this.init.fetcher.flush()
  }

  async gc (options: { signal?: AbortSignal, onProgress?(event: GcProgressEvent): void } = {}): Promise<GcResult> {
    return await this.init.store.gc(options)
  }

  async repoStat (): Promise<StoreStat> {
    return await this.init.store.stat()
  }
}
