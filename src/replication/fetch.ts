/**
 * Get from anywhere: a BlockSource that answers from the local store, else
 * from the block's replica set (nearest and least busy first), else from any
 * other storage peer. Every fetched block is verified (by the session) and
 * kept locally as unpinned cache. When a DAG node arrives its children are
 * prefetched with a window, so a file streams at network speed, in order.
 *
 * A block that turns out corrupt on disk here (the store quarantines it) is
 * fetched from a replica within the same read, and so restored. A fetch is
 * shared by everyone who asks for the block meanwhile, so it is not bound to
 * one caller's signal: each caller stops waiting on its own abort, and the
 * prefetching done for a reader stops once that reader is gone.
 */
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { raceSignal } from 'race-signal'
import { childLinks, multihashKey } from '../content/blocks.ts'
import type { BlockSource } from '../content/blocks.ts'
import { AbortedError, BlockNotFoundError, CorruptBlockError, StorageFullError } from '../errors.ts'
import { silentLogger } from '../platform/logger.ts'
import type { Logger } from '../platform/logger.ts'
import type { Membership } from './membership.ts'
import { blockKey } from './placement.ts'
import type { BlockSessions } from './sessions.ts'

export interface FetchStore {
  has(cid: CID, options?: { signal?: AbortSignal }): Promise<boolean>
  get(cid: CID, options?: { signal?: AbortSignal }): Promise<Uint8Array>
  /** keep a fetched (already verified) block as unpinned cache */
  putFetched(cid: CID, bytes: Uint8Array, options?: { signal?: AbortSignal }): Promise<void>
}

export interface FetcherInit {
  membership: Membership
  sessions: BlockSessions
  local: FetchStore
  k: number
  /** network fetches in flight at once (prefetch included) */
  window?: number
  logger?: Logger
}

export class BlockFetcher implements BlockSource {
  private readonly init: FetcherInit
  private readonly log: Logger
  private readonly inflight = new Map<string, Promise<Uint8Array>>()
  /** fetched ahead of the reader, handed over once and then forgotten */
  private readonly ready = new Map<string, Uint8Array>()
  /** keys the reader awaited while they were being prefetched */
  private readonly taken = new Set<string>()
  private readonly busy = new Map<string, number>()
  private readonly writing = new Set<Promise<void>>()
  private readonly queue: Array<() => void> = []
  private running = 0

  constructor (init: FetcherInit) {
    this.init = init
    this.log = init.logger ?? silentLogger
  }

  /**
   * The verified bytes of `cid`. `prefetch: false` reads this block only
   * (stat walks a DAG's nodes without pulling in its leaves).
   */
  async get (cid: CID, options: { signal?: AbortSignal, prefetch?: boolean } = {}): Promise<Uint8Array> {
    if (options.signal?.aborted === true) throw new AbortedError(`Fetching block "${cid}" was aborted`)
    const key = multihashKey(cid)
    const early = this.ready.get(key)
    if (early != null) {
      this.ready.delete(key)
      return early
    }
    let pending = this.inflight.get(key)
    if (pending != null) this.taken.add(key)
    else pending = this.obtain(cid, key, { urgent: true, prefetch: options.prefetch !== false, reader: options.signal })
    return await raceSignal(pending, options.signal, { translateError: () => new AbortedError(`Fetching block "${cid}" was aborted`) })
  }

  /**
   * Local, else the network; registered as in flight before anything is
   * awaited. `reader` is the signal of the read it is for: a prefetch whose
   * reader is gone is not started.
   */
  private obtain (cid: CID, key: string, how: { urgent: boolean, prefetch: boolean, reader?: AbortSignal }): Promise<Uint8Array> {
    const promise = (async () => {
      const local = await this.fromLocal(cid)
      if (local != null) return local
      const bytes = await this.slot(how.urgent, async () => {
        if (!how.urgent && how.reader?.aborted === true) throw new AbortedError(`Prefetching block "${cid}" was abandoned: its reader is gone`)
        const fetched = await this.fromNetwork(cid)
        this.keep(cid, fetched)
        // the reader does not wait for the cache write; but the fetch slot is
        // held while too many writes are pending, so a disk slower than the
        // network slows the fetching instead of piling up blocks in memory
        while (this.writing.size > (this.init.window ?? 32) * 2) await Promise.race(this.writing)
        return fetched
      })
      if (how.prefetch) this.prefetchChildren(cid, bytes, how.reader)
      return bytes
    })().finally(() => { this.inflight.delete(key) })
    // callers may stop waiting (their abort); the failure then reaches nobody
    promise.catch(() => {})
    this.inflight.set(key, promise)
    return promise
  }

  /** The block from the local store; undefined when it is not there, or is there but corrupt (quarantined by the store). */
  private async fromLocal (cid: CID): Promise<Uint8Array | undefined> {
    if (!await this.init.local.has(cid)) return undefined
    try {
      return await this.init.local.get(cid)
    } catch (err) {
      if (err instanceof CorruptBlockError) {
        this.log.warn('a block stored here is corrupt (quarantined); fetching it from a replica', { cid: cid.toString() })
        return undefined
      }
      // removed meanwhile (GC)
      if (err instanceof BlockNotFoundError) return undefined
      throw err
    }
  }

  /** Store a fetched block as cache in the background (a failed write only costs a refetch later). */
  private keep (cid: CID, bytes: Uint8Array): void {
    const write: Promise<void> = this.init.local.putFetched(cid, bytes)
      .catch((err: Error) => {
        // at the quota, reads are served without caching (the store reclaims cache meanwhile)
        this.log[err instanceof StorageFullError ? 'debug' : 'warn']('could not cache a fetched block', { cid: cid.toString(), error: err.message })
      })
      .finally(() => { this.writing.delete(write) })
    this.writing.add(write)
  }

  /** Wait for the cache writes in flight (tests, shutdown). */
  async flush (): Promise<void> {
    await Promise.all(this.writing)
  }

  /** Fetch the children of a block that came from the network, ahead of the reader (while it reads). */
  private prefetchChildren (cid: CID, bytes: Uint8Array, reader?: AbortSignal): void {
    let links: CID[]
    try {
      links = childLinks(cid, bytes)
    } catch {
      return
    }
    for (const link of links) {
      const key = multihashKey(link)
      if (this.inflight.has(key) || this.ready.has(key)) continue
      this.obtain(link, key, { urgent: false, prefetch: true, reader }).then(child => {
        // hand it to the reader without a disk read, unless the reader already
        // took it while in flight, or too much is waiting
        if (this.taken.delete(key)) return
        if (this.ready.size < (this.init.window ?? 32) * 2) this.ready.set(key, child)
      }, () => {
        // the reader will ask again and get the error then
        this.taken.delete(key)
      })
    }
  }

  /** Run `fn` when fewer than `window` fetches are in flight; urgent ones go first. */
  private async slot<T> (urgent: boolean, fn: () => Promise<T>): Promise<T> {
    if (this.running >= (this.init.window ?? 32)) {
      await new Promise<void>(resolve => { urgent ? this.queue.unshift(resolve) : this.queue.push(resolve) })
    }
    this.running++
    try {
      return await fn()
    } finally {
      this.running--
      this.queue.shift()?.()
    }
  }

  /**
   * Ask the block's replica set (least busy, then nearest), then every other
   * storage peer. Only when none has it and the view is thin (fewer than k
   * members) is the DHT asked for more peers, and they are tried too: a
   * lookup per block would put a DHT round trip in front of every read.
   */
  private async fromNetwork (cid: CID): Promise<Uint8Array> {
    const { membership, k } = this.init
    const key = blockKey(cid)
    const asked = new Set<string>()
    let answered = 0
    const tryPeers = async (set: PeerId[]): Promise<Uint8Array | undefined> => {
      const remote = set.filter(p => !p.equals(membership.self) && !asked.has(p.toString()))
      // least busy first, nearest first among equals (the set is sorted by distance)
      const ordered = remote.map((p, i) => ({ p, i })).sort((a, b) => (this.load(a.p) - this.load(b.p)) || a.i - b.i).map(x => x.p)
      const inSet = new Set(remote.map(String))
      const others = membership.peers().filter(p => !inSet.has(p.toString()) && !asked.has(p.toString()))
      for (const peer of [...ordered, ...others]) {
        asked.add(peer.toString())
        const bytes = await this.askPeer(peer, cid).catch((err: Error) => {
          if (err instanceof CorruptBlockError) {
            this.log.warn('peer served a corrupted block; trying another replica', { peer: peer.toString(), cid: cid.toString() })
          } else {
            this.log.debug('peer did not answer for a block', { peer: peer.toString(), cid: cid.toString(), error: err.message })
          }
          return null
        })
        if (bytes === null) continue
        answered++
        if (bytes !== undefined) return bytes
      }
      return undefined
    }
    const found = await tryPeers(membership.replicaSet(key, k)) ??
      (membership.peers().length + 1 < k ? await tryPeers(await membership.lookupReplicaSet(key, k)) : undefined)
    if (found != null) return found
    throw new BlockNotFoundError(cid.toString(),
      `Cannot fetch block "${cid}": ${answered} of ${asked.size} peers asked answered, none has it` +
      (asked.size === 0 ? ' (no storage peers are connected)' : ''))
  }

  private load (peer: PeerId): number {
    return this.busy.get(peer.toString()) ?? 0
  }

  /** The verified bytes, or undefined if the peer does not have the block. */
  private async askPeer (peer: PeerId, cid: CID): Promise<Uint8Array | undefined> {
    const key = peer.toString()
    this.busy.set(key, this.load(peer) + 1)
    try {
      const [answer] = await this.init.sessions.call(peer, async s => await s.get([cid]))
      return answer?.bytes
    } finally {
      this.busy.set(key, this.load(peer) - 1)
    }
  }
}
