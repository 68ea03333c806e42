/**
 * The namespace service of one node: mutable names replicated on the k
 * peers nearest to sha2-256 of the name's UTF-8 bytes (the same placement
 * as blocks), reconciled with the pure core of this directory. It puts the
 * parts together, each in its file:
 *
 * - storage.ts: the names tables (this module's own, in the node's database)
 * - replica.ts: the records held here, merging, the one check of records from the network
 * - coordinator.ts: put, remove, resolve, get, list, conflicts (any node)
 * - sync.ts: re-sync rounds with one peer (when it joins, and one peer in turn)
 * - gc.ts: collecting tombstones every replica has, handing off names this node is not a replica of
 *
 * Re-sync and GC run on platform/worker.ts Workers; sessions to peers come
 * from one SessionPool (protocols/session-pool.ts). `onChange` tells of
 * every change of a name this node holds, wherever it came from.
 */
import type { PeerId, PrivateKey, Stream } from '@libp2p/interface'
import { silentLogger } from '../platform/logger.ts'
import type { Logger } from '../platform/logger.ts'
import { Worker } from '../platform/worker.ts'
import type { Clock } from '../platform/worker.ts'
import { DEFAULT_NAME_SYNC_LIMITS, NAME_SYNC_PROTOCOL, NameSession, nameSyncHandler } from '../protocols/name-sync.ts'
import type { NameSyncLimits } from '../protocols/name-sync.ts'
import { SessionPool } from '../protocols/session-pool.ts'
import type { ReplicationPolicy } from '../replication/policy.ts'
import { NameCoordinator } from './coordinator.ts'
import { NameGc } from './gc.ts'
import { NameReplica } from './replica.ts'
import type { NameStore } from './storage.ts'
import { NameOwners } from './owners.ts'
import { NameSyncer } from './sync.ts'
import type { SyncStats } from './sync.ts'
import { isUnder, normaliseName } from './path.ts'
import { nameInfo } from './view.ts'
import type { GetResult, NameInfo, PutInput, WriteOutcome } from './view.ts'

export type { GetResult, NameInfo, PutInput, SiblingInfo, WriteOutcome } from './view.ts'
export { nameInfo } from './view.ts'
export { nameKey } from './path.ts'

/** The peers this service places names on (src/replication/membership.ts). */
export interface NameMembership {
  readonly self: PeerId
  /** connected storage peers, not self */
  peers(): PeerId[]
  /** nearest first, self included */
  replicaSet(key: Uint8Array, k: number): PeerId[]
  lookupReplicaSet(key: Uint8Array, k: number, options?: { signal?: AbortSignal }): Promise<PeerId[]>
  onChange(listener: (peer: PeerId, joined: boolean) => void): () => void
}

export interface NameServiceOptions {
  /** wall clock, ms: values' mtime and the tombstone grace period (tests skew it) */
  now?(): number
  /** re-sync with one peer in turn, and sweep, this often (default 60 s; 0: never) */
  syncIntervalMs?: number
  /** the workers' clock (tests: a fake one) */
  clock?: Clock
  /** wait this long after a peer joins before syncing with it (default 200 ms) */
  joinSyncDelayMs?: number
  /** how long a deleted name's tombstones are kept once every replica has them (default 24 h) */
  tombstoneGraceMs?: number
  /** most names `list` gathers (default 10 000) */
  maxListNames?: number
  limits?: Partial<NameSyncLimits>
}

export interface NameServiceInit extends NameServiceOptions {
  /** k, the write quorum (a promise: never lowered) and the read quorum; the same policy as blocks */
  policy: Pick<ReplicationPolicy, 'k' | 'writeQuorum' | 'readQuorum'>
  /** this node's key: it signs the writes it coordinates */
  privateKey: PrivateKey
  membership: NameMembership
  dial(peer: PeerId, protocol: string, options: { signal?: AbortSignal }): Promise<Stream>
  storage: NameStore
  /** name prefixes and the peer ids that alone may write under them (config nameOwners) */
  owners?: Record<string, string[]>
  /** size and mode of a CID, for writes that do not give them (the node's files.stat) */
  statCid?(cid: string, options: { signal?: AbortSignal }): Promise<{ size: number, mode?: number }>
  logger?: Logger
}

export class NameService {
  /** the names tables */
  readonly storage: NameStore
  private readonly init: NameServiceInit
  private readonly log: Logger
  private readonly limits: NameSyncLimits
  private readonly sessions: SessionPool<NameSession>
  private readonly replica: NameReplica
  private readonly coordinator: NameCoordinator
  private readonly syncer: NameSyncer
  private readonly gc: NameGc
  private readonly syncWorker: Worker
  private readonly gcWorker: Worker
  /** peers that joined and wait for their first re-sync round */
  private readonly joined = new Map<string, PeerId>()
  private unsubscribe?: () => void
  private turn = 0

  constructor (init: NameServiceInit) {
    this.init = init
    this.storage = init.storage
    this.log = init.logger ?? silentLogger
    this.limits = { ...DEFAULT_NAME_SYNC_LIMITS, ...init.limits }
    const now = (): number => init.now?.() ?? Date.now()
    const selfId = init.membership.self.toString()
    this.sessions = new SessionPool({
      open: async (peer, { signal }) => new NameSession(await init.dial(peer, NAME_SYNC_PROTOCOL, { signal }), peer, this.limits)
    })
    const call = async <T>(peer: PeerId, fn: (s: NameSession) => Promise<T>, signal?: AbortSignal): Promise<T> => await this.sessions.call(peer, fn, { signal })
    const { policy, membership, storage } = init
    const owners = new NameOwners(init.owners)
    this.replica = new NameReplica({ storage, owners, limits: this.limits, now, logger: this.log })
    this.coordinator = new NameCoordinator({
      owners,
      selfId,
      privateKey: init.privateKey,
      policy,
      membership,
      storage,
      replica: this.replica,
      call,
      statCid: init.statCid,
      limits: this.limits,
      maxListNames: init.maxListNames ?? 10_000,
      now,
      logger: this.log
    })
    this.syncer = new NameSyncer({ policy, membership, storage, replica: this.replica, call, limits: this.limits, logger: this.log })
    this.gc = new NameGc({ selfId, policy, membership, storage, graceMs: init.tombstoneGraceMs ?? 24 * 60 * 60 * 1000, now, logger: this.log })
    const interval = init.syncIntervalMs ?? 60_000
    this.syncWorker = new Worker({ name: 'name re-sync', intervalMs: interval, clock: init.clock, logger: this.log, run: async (signal) => { await this.syncPass(signal) } })
    this.gcWorker = new Worker({ name: 'name gc', intervalMs: interval, clock: init.clock, logger: this.log, run: async () => { this.gc.sweep() } })
  }

  start (): void {
    this.unsubscribe ??= this.init.membership.onChange((peer, joined) => {
      if (joined) {
        this.joined.set(peer.toString(), peer)
        this.syncWorker.trigger(this.init.joinSyncDelayMs ?? 200)
      } else {
        this.joined.delete(peer.toString())
        void this.sessions.drop(peer)
      }
    })
    this.syncWorker.start()
    this.gcWorker.start()
  }

  async stop (): Promise<void> {
    this.unsubscribe?.()
    this.unsubscribe = undefined
    await Promise.all([this.syncWorker.stop(), this.gcWorker.stop()])
    await this.sessions.closeAll()
  }

  /** The `/shoal/names/1.0.0` handler (register it with NAME_SYNC_PROTOCOL). */
  handler (): ReturnType<typeof nameSyncHandler> {
    return nameSyncHandler({ store: this.replica.protocolStore(), limits: this.limits, logger: this.log })
  }

  get protocol (): string {
    return NAME_SYNC_PROTOCOL
  }

  /** Points `path` at `cid`. Without a context the write is blind: it replaces nothing, what is there stays as siblings. */
  async put (path: string, input: PutInput, options: { context?: string, signal?: AbortSignal } = {}): Promise<WriteOutcome> {
    return await this.coordinator.put(path, input, options)
  }

  /** Deletes `path`: a tombstone replacing what the context covers (default: everything a read sees now). */
  async remove (path: string, options: { context?: string, signal?: AbortSignal } = {}): Promise<WriteOutcome> {
    return await this.coordinator.remove(path, options)
  }

  /** Makes `cid` the one value of `path`: a write whose context covers every current sibling. */
  async resolve (path: string, cid: string, options: { size?: number, mode?: number, signal?: AbortSignal } = {}): Promise<WriteOutcome> {
    return await this.coordinator.resolve(path, cid, options)
  }

  /** Reads `path` from R replicas, merges, repairs those behind; every sibling with the context. */
  async get (path: string, options: { signal?: AbortSignal } = {}): Promise<GetResult> {
    return await this.coordinator.get(path, options)
  }

  /** The names under `prefix` that have a live value, from this node and every connected storage peer. */
  async list (prefix = '/', options: { signal?: AbortSignal } = {}): Promise<NameInfo[]> {
    return await this.coordinator.list(prefix, options)
  }

  /** Names with more than one live value. */
  async conflicts (options: { signal?: AbortSignal } = {}): Promise<NameInfo[]> {
    return await this.coordinator.conflicts(options)
  }

  /**
   * Calls `listener` with the name's view (values, siblings, conflict) each
   * time a name under `prefix` ("/": all) that this node holds changes: a
   * write coordinated here, or a record received from another node (its
   * writes, re-sync, read repair). Only the names this node holds: all of
   * them while the cluster has at most k nodes, else those it is a replica
   * of (and those it wrote). Returns the function that stops it.
   */
  onChange (prefix: string, listener: (change: NameInfo) => void): () => void {
    const normal = prefix === '/' || prefix === '' ? '/' : normaliseName(prefix)
    return this.replica.onChange(record => {
      if (isUnder(record.key, normal)) listener(nameInfo(record, record.key))
    })
  }

  /** One re-sync round with `peer` (see sync.ts). */
  async syncWith (peer: PeerId, options: { signal?: AbortSignal } = {}): Promise<SyncStats> {
    return await this.syncer.syncWith(peer, options)
  }

  /** Collects what this node need not keep (see gc.ts); the names dropped. */
  sweep (): { collected: string[], handedOff: string[] } {
    return this.gc.sweep()
  }

  /** The peers that joined since the last pass, else one peer in turn. */
  private async syncPass (signal: AbortSignal): Promise<void> {
    const joined = [...this.joined.values()]
    this.joined.clear()
    const peers = joined.length > 0 ? joined : this.nextPeer()
    for (const peer of peers) {
      try {
        await this.syncer.syncWith(peer, { signal })
      } catch (err) {
        if (!signal.aborted) this.log.warn('name re-sync with a peer failed', { peer: peer.toString(), error: (err as Error).message })
      }
    }
  }

  private nextPeer (): PeerId[] {
    const peers = this.init.membership.peers()
    return peers.length === 0 ? [] : [peers[this.turn++ % peers.length]]
  }
}
