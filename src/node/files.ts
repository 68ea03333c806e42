/**
 * Files on a node: add (import, durable write, pin, replicate to the replica
 * sets), cat / ls / stat (local first, else from the network), pins, GC and
 * repo stats. What the RPC layer calls for content.
 */
import type { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import type { ProgressEvent } from 'progress-events'
import { multihashKey, parseCid } from '../content/blocks.ts'
import type { BlockSink } from '../content/blocks.ts'
import { walkDag } from '../content/dag.ts'
import { cat, ls, statContent } from '../content/exporter.ts'
import type { ContentStat, LsEntry } from '../content/exporter.ts'
import { importDirectory, importFile, importSymlink } from '../content/importer.ts'
import type { DirectoryEntryInput, ImportedEntry, ImportOptions, ImportProgress } from '../content/importer.ts'
import { InvalidArgumentError, NotPinnedError, PathNotFoundError } from '../errors.ts'
import type { Logger } from '../platform/logger.ts'
import type { BlockFetcher } from '../replication/fetch.ts'
import type { ReplicationProgress, Replicator, ReplicationReport } from '../replication/push.ts'
import type { BlockReplicaService } from '../replication/service.ts'
import type { ReplicaStatus } from '../replication/status.ts'
import type { ContentStore, GcResult, StoreStat } from '../store/content-store.ts'

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

type Imported = { cid: CID, size: number, entries?: AddedEntry[] }

export interface FilesInit {
  store: ContentStore
  fetcher: BlockFetcher
  /** replication of adds (quorum), replica status; repair yields to the requests marked here */
  replicas: BlockReplicaService
  logger: Logger
}

export class Files {
  private readonly init: FilesInit

  constructor (init: FilesInit) {
    this.init = init
  }

  async add (source: AsyncIterable<Uint8Array>, options: AddOptions = {}): Promise<AddResult> {
    return await this.addWith(async (sink, importOptions) => {
      const r = await importFile(source, sink, importOptions)
      return { cid: r.cid, size: r.size }
    }, options)
  }

  async addDirectory (entries: AsyncIterable<DirectoryEntryInput>, options: AddOptions = {}): Promise<AddResult> {
    return await this.addWith(async (sink, importOptions) => {
      const r = await importDirectory(entries, sink, importOptions)
      return { cid: r.cid, size: r.bytes, entries: r.entries.map(e => ({ ...e, cid: e.cid.toString() })) }
    }, options)
  }

  /** Adds one symlink node (the link itself, as `ipfs add LINK`). */
  async addSymlink (target: string, options: AddOptions = {}): Promise<AddResult> {
    return await this.addWith(async (sink, importOptions) => await importSymlink(target, sink, importOptions), options)
  }

  /**
   * Import into the local store inside a write session (GC waits), each block
   * pushed to its replica set as soon as it is stored here; make it durable,
   * pin, then wait for the pushes and check the quorum. Below quorum (fewer
   * storage nodes reachable than the quorum, or pushes that failed) the add
   * fails saying how many blocks are short and how many copies they have;
   * what was stored (and pinned) here is kept.
   */
  private async addWith (run: (sink: BlockSink, options: ImportOptions) => Promise<Imported>, options: AddOptions): Promise<AddResult> {
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

  private async importAndReplicate (run: (sink: BlockSink, options: ImportOptions) => Promise<Imported>, replicator: Replicator, options: AddOptions): Promise<AddResult> {
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
          signal: options.signal,
          onProgress: options.onProgress
        })
        await store.blocks.sync({ signal: options.signal })
        if (options.pin !== false) await store.pin(imported.cid, { signal: options.signal, storedRawBlocks })
      } catch (err) {
        // no push outlives the add
        await replicator.finish().catch(() => {})
        throw err
      }
      const { cid, size, entries } = imported
      const replication = await replicator.finish()
      const short = replicas.quorumError({ cid: cid.toString(), size, pinned: options.pin !== false }, replication)
      if (short != null) throw short
      return { cid: cid.toString(), size, blocks: replication.blocks, replication, ...(entries == null ? {} : { entries }) }
    }, { signal: options.signal })
  }

  /** Bytes of a file (a range of it), from here or the network, streamed in order. */
  async * cat (cidText: string, options: { offset?: number, length?: number, signal?: AbortSignal } = {}): AsyncGenerator<Uint8Array> {
    const cid = parseCid(cidText)
    const done = this.init.replicas.userOperation()
    try {
      yield * cat(cid, this.init.fetcher, { ...options, blockReadConcurrency: 32 })
    } finally {
      done()
    }
  }

  /**
   * What `cidText` is, and (unless `replicas: false`) where its replicas are.
   * Only the DAG's nodes are read, never its leaves, unless `prefetch` says
   * that a read of the whole file follows (cat).
   */
  async stat (cidText: string, options: { signal?: AbortSignal, replicas?: boolean, prefetch?: boolean } = {}): Promise<ContentStat & { replicas?: ReplicaStatus }> {
    const cid = parseCid(cidText)
    const { fetcher } = this.init
    const prefetch = options.prefetch === true
    const stat = await statContent(cid, { get: async (c, o) => await fetcher.get(c, { ...o, prefetch }) }, options)
    if (options.replicas === false) return stat
    return { ...stat, replicas: await this.init.replicas.replicaStatus(cid, options) }
  }

  /** One block's bytes, verified, from here or the network (an identity CID carries its own). */
  async block (cid: CID, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    if (cid.multihash.code === identity.code) return cid.multihash.digest
    return await this.init.fetcher.get(cid, options)
  }

  /** What is at `path` (entry names) below the directory `root`. */
  async resolve (root: CID, path: string[], options: { signal?: AbortSignal } = {}): Promise<ContentStat> {
    let cid = root
    for (let i = 0; i < path.length; i++) {
      const entry = (await this.ls(cid.toString(), options)).find(e => e.name === path[i])
      if (entry == null) throw new PathNotFoundError(`No "${path.slice(0, i + 1).join('/')}" under ${root}`)
      cid = entry.cid
    }
    return await this.stat(cid.toString(), { ...options, replicas: false })
  }

  async ls (cidText: string, options: { signal?: AbortSignal } = {}): Promise<LsEntry[]> {
    const out: LsEntry[] = []
    for await (const entry of ls(parseCid(cidText), this.init.fetcher, options)) out.push(entry)
    return out
  }

  async pin (cidText: string, options: { recursive?: boolean, signal?: AbortSignal } = {}): Promise<{ cid: string, blocks: number, bytes: number }> {
    const cid = parseCid(cidText)
    const { store, fetcher } = this.init
    return await store.writeSession(async () => {
      // fetch what is missing first (the fetcher keeps it), then pin from local blocks
      if (options.recursive !== false) {
        for await (const block of walkDag(cid, fetcher, { signal: options.signal, concurrency: 32 })) void block
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

  async gc (options: { signal?: AbortSignal } = {}): Promise<GcResult> {
    return await this.init.store.gc(options)
  }

  async repoStat (): Promise<StoreStat> {
    return await this.init.store.stat()
  }
}
