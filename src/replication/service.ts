/**
 * The block replica service of a node, started and stopped with it: it
 * serves the block and range protocols (pushed blocks are stored and held
 * for the network), replicates adds (the Replicator and the write quorum),
 * and keeps k copies of every block as members come and go (repair,
 * anti-entropy and hand-off on one Worker) and on disk (scrub on another).
 * Its status says what is under-replicated and what repair is moving.
 */
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { CorruptBlockError, QuorumError, StorageFullError } from '../errors.ts'
import type { ShoalLibp2p } from '../net/libp2p.ts'
import { Listeners } from '../platform/listeners.ts'
import { silentLogger } from '../platform/logger.ts'
import type { Logger } from '../platform/logger.ts'
import { RateLimiter, sleep, systemClock, Worker } from '../platform/worker.ts'
import type { Clock } from '../platform/worker.ts'
import { BLOCK_PROTOCOL, blockExchangeHandler, DEFAULT_BLOCK_LIMITS, MAX_PUT_K } from '../protocols/block-exchange.ts'
import type { PutFrom } from '../protocols/block-exchange.ts'
import { DEFAULT_RANGE_SYNC_LIMITS, RANGE_SYNC_PROTOCOL, RangeSession, rangeSyncHandler } from '../protocols/range-sync.ts'
import { SessionPool } from '../protocols/session-pool.ts'
import type { ContentStore } from '../store/content-store.ts'
import { storeRanges } from './anti-entropy.ts'
import type { Membership } from './membership.ts'
import { blockKey, closestPeers } from './placement.ts'
import type { ReplicationPolicy } from './policy.ts'
import { Replicator } from './push.ts'
import type { ReplicationProgress, ReplicationReport } from './push.ts'
import { Repair } from './repair.ts'
import type { Moved, RepairProgress, RepairReport } from './repair.ts'
import { Scrub } from './scrub.ts'
import type { ScrubStats } from './scrub.ts'
import type { BlockSessions } from './sessions.ts'
import { replicaStatus } from './status.ts'
import type { ReplicaStatus } from './status.ts'

export interface RepairSettings {
  /** false: no repair passes at all (tests of reads and GC alone) */
  enabled?: boolean
  /** a storage member that left is replaced after this long (ms) */
  graceMs: number
  /** anti-entropy with every neighbour this often (ms; 0: only after membership changes) */
  intervalMs: number
  /** repair and anti-entropy traffic, bytes per second */
  bytesPerSecond: number
  /** scrub: one full pass over the stored blocks in this long (ms; 0: no scrub) */
  scrubPeriodMs: number
  /** scrub works a slice this often (ms; default 60 s) */
  scrubStepMs?: number
  /** after a membership change, repair runs this much later (ms; default 1 s: joins come in bursts) */
  settleMs?: number
}

export const DEFAULT_REPAIR: Readonly<RepairSettings> = Object.freeze({
  graceMs: 5 * 60_000,
  intervalMs: 60_000,
  bytesPerSecond: 50_000_000,
  scrubPeriodMs: 7 * 24 * 3600_000
})

export interface BlockReplicaInit {
  libp2p: ShoalLibp2p
  store: ContentStore
  membership: Membership
  sessions: BlockSessions
  policy: ReplicationPolicy
  /** reads a block from here or the network (scrub's refetch, stat's DAG walk) */
  fetcher: { get(cid: CID, options?: { signal?: AbortSignal, prefetch?: boolean }): Promise<Uint8Array> }
  repair?: Partial<RepairSettings>
  /** server side of the block and range protocols: a stream idle this long is closed */
  streamIdleTimeoutMs?: number
  /** client side: this node's own streams idle this long are closed */
  sessionIdleTimeoutMs?: number
  clock?: Clock
  logger?: Logger
}

export interface RepairStatus {
  /** running a pass now */
  running: boolean
  current?: RepairProgress
  /** bytes moved per second by the pass in progress, else by the last one */
  rateBytesPerSecond: number
  last?: RepairReport
  totals: { passes: number, pushed: Moved, pulled: Moved, handedOff: Moved }
  /** held here in ranges with fewer live copies than k */
  underReplicated: Moved & { ranges: number }
  /** storage members that left and are still within the grace period, with when they left (ISO) */
  departed: Array<{ peer: string, since: string }>
  settings: { graceMs: number, intervalMs: number, bytesPerSecond: number }
  scrub: ScrubStats & { periodMs: number }
}

/** A repair pass began, or ended with what it moved (`report`). */
export type RepairEvent = { type: 'started', startedAt: number } | { type: 'ended', report: RepairReport }

export class BlockReplicaService {
  private readonly init: BlockReplicaInit
  private readonly log: Logger
  private readonly settings: RepairSettings
  private readonly clock: Clock
  private readonly rangeSessions: SessionPool<RangeSession>
  private readonly repair: Repair
  private readonly scrub: Scrub
  private readonly repairWorker: Worker
  private readonly scrubWorker: Worker
  private unsubscribe?: () => void
  private readonly repairListeners: Listeners<RepairEvent>
  private userOps = 0
  private startedAt = 0

  constructor (init: BlockReplicaInit) {
    this.init = init
    this.log = init.logger ?? silentLogger
    this.settings = { ...DEFAULT_REPAIR, ...init.repair }
    this.clock = init.clock ?? systemClock
    this.repairListeners = new Listeners('repair', this.log)
    const { libp2p } = init
    this.rangeSessions = new SessionPool({
      open: async (peer, { signal }) => new RangeSession(await libp2p.dialProtocol(peer, RANGE_SYNC_PROTOCOL, { signal }), peer, { idleCloseMs: init.sessionIdleTimeoutMs })
    })
    const now = (): number => this.clock.now()
    const burstBytes = Math.min(this.settings.bytesPerSecond, 8 * 1024 * 1024)
    this.repair = new Repair({
      policy: init.policy,
      membership: init.membership,
      store: init.store,
      sessions: init.sessions,
      rangeSessions: this.rangeSessions,
      limiter: new RateLimiter({ bytesPerSecond: this.settings.bytesPerSecond, burst: burstBytes, clock: this.clock }),
      burstBytes,
      graceMs: this.settings.graceMs,
      yieldToUsers: async (signal) => { await this.waitForUsers(signal) },
      now,
      logger: this.log.child('repair')
    })
    const stepMs = this.settings.scrubStepMs ?? 60_000
    this.scrub = new Scrub({
      store: init.store,
      // restored means on disk again, not only fetched (the fetcher caches in the background)
      refetch: async (cid, o) => {
        const bytes = await init.fetcher.get(cid, { ...o, prefetch: false })
        await init.store.blocks.put(cid, bytes, { ...o, verified: true })
      },
      periodMs: this.settings.scrubPeriodMs,
      stepMs,
      now,
      logger: this.log.child('scrub')
    })
    this.repairWorker = new Worker({
      name: 'repair',
      intervalMs: this.settings.intervalMs,
      initialDelayMs: this.settings.settleMs ?? 1000,
      clock: this.clock,
      logger: this.log,
      run: async (signal) => {
        // a node that just started does not know yet who holds what (its peers
        // connect one by one): its own passes wait a grace period, and the others'
        // passes bring it its share meanwhile
        const wait = this.startedAt + this.settings.graceMs - this.clock.now()
        if (wait > 0) {
          this.repairWorker.trigger(wait)
          return
        }
        this.repairListeners.emit({ type: 'started', startedAt: this.clock.now() })
        try {
          await this.repair.pass(signal)
        } finally {
          // a pass that failed has its report too
          if (this.repair.last != null) this.repairListeners.emit({ type: 'ended', report: this.repair.last })
        }
      }
    })
    this.scrubWorker = new Worker({
      name: 'scrub',
      intervalMs: this.settings.scrubPeriodMs > 0 ? stepMs : 0,
      clock: this.clock,
      logger: this.log,
      run: async (signal) => { await this.scrub.step(signal) }
    })
  }

  /** Serve the block and range protocols; start repair and scrub. */
  async start (): Promise<void> {
    const { libp2p, store } = this.init
    // pushed blocks are held for the network (GC keeps them): stored and held
    // in one write session, so GC cannot slip in between
    const putMany = async (blocks: Array<[CID, Uint8Array]>, how: PutFrom): Promise<boolean[]> => {
      const mine = this.responsibleFor(blocks.map(([cid]) => cid), how)
      const wanted = blocks.filter((_, i) => mine[i])
      await store.ensureRoom(wanted.reduce((n, [, bytes]) => n + bytes.byteLength, 0), `Cannot store ${wanted.length} pushed blocks`)
      const stored = await store.writeSession(async () => {
        const done = await Promise.all(wanted.map(async ([cid, bytes]) => await store.blocks.put(cid, bytes).then(() => true, (err: unknown) => {
          if (err instanceof StorageFullError) throw err
          return false
        })))
        await store.holdMany(wanted.filter((_, i) => done[i]).map(([cid]) => cid))
        return done
      })
      // a block this node is not placed for is refused, unless it is here anyway
      let next = 0
      return await Promise.all(blocks.map(async ([cid], i) => mine[i] ? stored[next++] : await store.blocks.has(cid)))
    }
    await libp2p.handle(BLOCK_PROTOCOL, blockExchangeHandler({
      logger: this.log.child('block'),
      limits: { idleTimeoutMs: this.init.streamIdleTimeoutMs },
      store: {
        has: async (cid) => await store.blocks.has(cid),
        // the receiver verifies what it gets (and scrub covers this disk): served unhashed
        get: async (cid) => await store.blocks.get(cid, { verify: false }),
        put: async (cid, bytes, how) => {
          const [stored] = await putMany([[cid, bytes]], how)
          if (!stored) throw new CorruptBlockError(cid.toString())
        },
        putMany,
        sync: async () => { await store.blocks.sync() },
        keepsNoBytes: store.blocks.keepsNoBytes === true
      }
    }), { maxInboundStreams: DEFAULT_BLOCK_LIMITS.maxStreamsPerConnection, maxOutboundStreams: DEFAULT_BLOCK_LIMITS.maxStreamsPerConnection })
    await libp2p.handle(RANGE_SYNC_PROTOCOL, rangeSyncHandler({
      store: storeRanges(store.metadata),
      limits: { idleTimeoutMs: this.init.streamIdleTimeoutMs },
      logger: this.log.child('ranges')
    }), { maxInboundStreams: DEFAULT_RANGE_SYNC_LIMITS.maxStreamsPerConnection, maxOutboundStreams: DEFAULT_RANGE_SYNC_LIMITS.maxStreamsPerConnection })
    this.unsubscribe = this.init.membership.onChange((peer, joined) => {
      if (joined) {
        this.repairWorker.trigger(this.settings.settleMs ?? 1000)
      } else {
        void this.rangeSessions.drop(peer)
        // its copies count until the grace period ends; then the view changes
        this.repairWorker.trigger(this.settings.graceMs + (this.settings.settleMs ?? 1000))
      }
    })
    this.startedAt = this.clock.now()
    if (this.settings.enabled !== false) this.repairWorker.start()
    this.scrubWorker.start()
  }

  async stop (): Promise<void> {
    this.unsubscribe?.()
    this.unsubscribe = undefined
    await Promise.all([this.repairWorker.stop(), this.scrubWorker.stop()])
    await this.rangeSessions.closeAll()
  }

  /**
   * For each block, whether this node is among its `how.k` (at least k)
   * nearest members (the pusher included): only then may a peer make it hold
   * the block. A peer cannot fill this node's disk with blocks it is not
   * placed for.
   */
  private responsibleFor (cids: CID[], how: PutFrom): boolean[] {
    const { membership, policy } = this.init
    const depth = Math.max(policy.k, Math.min(how.k ?? policy.k, MAX_PUT_K))
    // views differ for a while after a change (a partition, a member in its
    // grace period): placed here by the live members or by repair's view
    const withPusher = (members: PeerId[]): PeerId[] => members.some(p => p.equals(how.from)) ? members : [...members, how.from]
    const views = [withPusher([membership.self, ...membership.peers()]), withPusher(membership.repairView(this.settings.graceMs).members)]
    return cids.map(cid => views.some(members => closestPeers(blockKey(cid), members, depth).some(p => p.equals(membership.self))))
  }

  /** Run a repair pass now (or right after the one in progress). */
  triggerRepair (): void {
    this.repairWorker.trigger()
  }

  /** Called when a repair pass starts and when it ends (with its report). Returns the function that stops it. */
  onRepair (listener: (event: RepairEvent) => void): () => void {
    return this.repairListeners.add(listener)
  }

  /** Resolves when the repair pass in progress, if any, has ended (tests). */
  async repairIdle (): Promise<void> {
    await this.repairWorker.idle()
  }

  /** Marks a user request in flight: repair traffic waits while any is (bounded). Call the result when done. */
  userOperation (): () => void {
    this.userOps++
    let done = false
    return () => {
      if (done) return
      done = true
      this.userOps--
    }
  }

  /** Resolves when no user request is in flight, or after 2 s: repair slows down under load, it never stops. */
  async waitForUsers (signal: AbortSignal): Promise<void> {
    for (let waited = 0; this.userOps > 0 && waited < 2000; waited += 25) await sleep(25, { clock: this.clock, signal })
  }

  // ---- adds ----

  /** The replication of one add: k and W from the policy (or the add's own), and a Replicator. */
  beginAdd (options: { replicas?: number, quorum?: number, signal?: AbortSignal, onProgress?(e: ReplicationProgress): void }): { k: number, quorum: number, replicator: Replicator } {
    const { k, quorum } = this.init.policy.forWrite(options)
    const replicator = new Replicator({ membership: this.init.membership, sessions: this.init.sessions, logger: this.log.child('push') }, {
      k, quorum, signal: options.signal, onProgress: options.onProgress
    })
    return { k, quorum, replicator }
  }

  /** The error an add short of its quorum fails with (undefined when it met it). */
  quorumError (added: { cid: string, size: number, pinned: boolean }, report: ReplicationReport): QuorumError | undefined {
    if (report.short === 0) return undefined
    const fewest = report.replicas.findIndex(n => n > 0)
    return new QuorumError(
      `Added ${added.cid} here, but ${report.short} of ${report.blocks} blocks have fewer than the ${report.quorum} confirmed copies asked for ` +
      `(the fewest: ${fewest}; ${report.reachable} of k=${report.k} storage nodes reachable); the data is kept${added.pinned ? ' and pinned' : ''} on this node` +
      (report.reachable < report.quorum ? '. With fewer nodes, lower the quorum (add --quorum, or "quorum" and "replicas" in config.json)' : ''),
      { ...added, replication: report })
  }

  /** Where the replicas of a DAG are (see status.ts). */
  async replicaStatus (root: CID, options: { signal?: AbortSignal } = {}): Promise<ReplicaStatus> {
    const { membership, sessions, store, fetcher, policy } = this.init
    return await replicaStatus(root, { membership, sessions, local: store.blocks, fetcher, k: policy.k }, options)
  }

  // ---- visibility ----

  /** What this node holds, by the live copies of each block's range (0..k): the under-replicated ones are below k. */
  liveCopies (): Array<{ copies: number, blocks: number, bytes: number, ranges: number }> {
    return [...this.repair.byLiveCopies()].map(([copies, t]) => ({ copies, ...t })).sort((a, b) => a.copies - b.copies)
  }

  status (): RepairStatus {
    const { view } = this.repair.ranges()
    const pass = this.repair.current ?? this.repair.last
    const seconds = pass == null ? 0 : (('endedAt' in pass && pass.endedAt > 0 ? pass.endedAt : this.clock.now()) - pass.startedAt) / 1000
    const bytes = pass == null ? 0 : pass.pushed.bytes + pass.pulled.bytes
    return {
      running: this.repairWorker.running,
      rateBytesPerSecond: seconds > 0 ? Math.round(bytes / seconds) : 0,
      ...(this.repair.current == null ? {} : { current: this.repair.current }),
      ...(this.repair.last == null ? {} : { last: this.repair.last }),
      totals: this.repair.totals,
      underReplicated: this.repair.underReplicated(),
      departed: [...view.departed].map(([peer, at]) => ({ peer, since: new Date(at).toISOString() })),
      settings: { graceMs: this.settings.graceMs, intervalMs: this.settings.intervalMs, bytesPerSecond: this.settings.bytesPerSecond },
      scrub: { ...this.scrub.stats, periodMs: this.settings.scrubPeriodMs }
    }
  }
}
