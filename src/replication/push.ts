/**
 * Replicate on add, streamed with the import: each block, as soon as it is
 * stored here, is queued for the other members of its replica set; per peer,
 * batches go out as HAVE then PUT of what the peer lacks, a few batches in
 * flight. The bytes are the importer's (already hashed), so nothing is read
 * back from disk or hashed again, and replication overlaps the import. When
 * a peer's window is full the import waits, so memory stays bounded. The
 * report counts the confirmed replicas of every block (self counts when it is
 * in the set).
 */
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import type { ProgressEvent } from 'progress-events'
import { AbortedError, PeerRefusedError } from '../errors.ts'
import { silentLogger } from '../platform/logger.ts'
import type { Logger } from '../platform/logger.ts'
import type { Membership } from './membership.ts'
import { blockKey } from './placement.ts'
import type { BlockSessions } from './sessions.ts'

export interface PushInit {
  membership: Membership
  sessions: BlockSessions
  logger?: Logger
}

export interface ReplicateOptions {
  /** replica set size, self included */
  k: number
  /** confirmed copies each block needs (not lowered when its replica set is smaller) */
  quorum: number
  /** batches (HAVE + PUT) in flight per peer (default 4) */
  window?: number
  /** blocks per batch (default 16, and at most ~4 MiB) */
  batch?: number
  signal?: AbortSignal
  onProgress?(event: ReplicationProgress): void
}

/**
 * confirmed: replica copies confirmed so far, self included; wanted: the
 * copies wanted so far (the sum of the replica sets' sizes of the blocks
 * imported so far)
 */
export type ReplicationProgress = ProgressEvent<'replicate:confirmed', { confirmed: number, wanted: number }>

export interface ReplicationReport {
  blocks: number
  k: number
  /** confirmed copies each block needed */
  quorum: number
  /** replicas[n] = how many blocks have n confirmed replicas */
  replicas: number[]
  /** blocks below their quorum */
  short: number
  /** size of the largest replica set (the storage peers reachable, capped at k) */
  reachable: number
}

/** Most bytes in one PUT request (the frame limit is 4 MiB + 1 KiB). */
const MAX_BATCH_BYTES = 4 * 1024 * 1024 - 64 * 1024

interface Queued { index: number, cid: CID, bytes: Uint8Array }

interface PeerQueue {
  peer: PeerId
  queued: Queued[]
  queuedBytes: number
  inFlight: Set<Promise<void>>
  failed: boolean
}

export class Replicator {
  private readonly init: PushInit
  private readonly options: ReplicateOptions
  private readonly log: Logger
  private readonly self: string
  private readonly sets: PeerId[][] = []
  private readonly confirmed: number[] = []
  private readonly queues = new Map<string, PeerQueue>()
  private wanted = 0
  private done = 0
  private lookup?: Promise<void>

  constructor (init: PushInit, options: ReplicateOptions) {
    this.init = init
    this.options = options
    this.log = init.logger ?? silentLogger
    this.self = init.membership.self.toString()
  }

  /**
   * Queue a block (stored here; its bytes hashed against its CID) for its
   * replica set. Call once per distinct block. Waits while a peer it goes
   * to has its window of requests in flight.
   */
  async add (cid: CID, bytes: Uint8Array): Promise<void> {
    this.throwIfAborted()
    const { membership } = this.init
    const { k } = this.options
    // too few peers known for a whole replica set: ask the DHT once (every
    // add waits for it, as the importer calls add for several blocks at once)
    this.lookup ??= membership.peers().length + 1 < k
      ? membership.lookupReplicaSet(blockKey(cid), k, { signal: this.options.signal }).then(() => {})
      : Promise.resolve()
    await this.lookup
    const index = this.sets.length
    const set = membership.replicaSet(blockKey(cid), k)
    this.sets.push(set)
    const selfIn = set.some(p => p.toString() === this.self)
    this.confirmed.push(selfIn ? 1 : 0)
    this.wanted += set.length
    this.done += selfIn ? 1 : 0
    this.progress()
    const full: PeerQueue[] = []
    for (const peer of set) {
      if (peer.toString() === this.self) continue
      const queue = this.enqueue(peer, { index, cid, bytes })
      if (queue != null && queue.inFlight.size >= (this.options.window ?? 4)) full.push(queue)
    }
    for (const queue of full) {
      while (queue.inFlight.size >= (this.options.window ?? 4)) await Promise.race(queue.inFlight)
    }
  }

  /** Queue a block for a peer, sending the peer's batch first when it is full; undefined when the peer failed. */
  private enqueue (peer: PeerId, block: Queued): PeerQueue | undefined {
    const key = peer.toString()
    let queue = this.queues.get(key)
    if (queue == null) {
      queue = { peer, queued: [], queuedBytes: 0, inFlight: new Set(), failed: false }
      this.queues.set(key, queue)
    }
    if (queue.failed) return undefined
    if (queue.queued.length > 0 && (queue.queued.length >= (this.options.batch ?? 16) || queue.queuedBytes + block.bytes.byteLength > MAX_BATCH_BYTES)) {
      this.send(queue)
    }
    queue.queued.push(block)
    queue.queuedBytes += block.bytes.byteLength
    return queue
  }

  /** Send what is queued, wait for every answer, and report. */
  async finish (): Promise<ReplicationReport> {
    // (until nothing is left: a full peer's blocks are queued again for others meanwhile)
    while (true) {
      for (const queue of this.queues.values()) if (queue.queued.length > 0) this.send(queue)
      const pending = [...this.queues.values()].flatMap(q => [...q.inFlight])
      if (pending.length === 0) break
      await Promise.all(pending)
    }
    this.throwIfAborted()
    const { k, quorum } = this.options
    const replicas = new Array<number>(k + 1).fill(0)
    let short = 0
    this.sets.forEach((_, i) => {
      replicas[Math.min(this.confirmed[i], k)]++
      if (this.confirmed[i] < quorum) short++
    })
    // (not Math.max(...sets): a spread of 10^5 and more arguments overflows the stack)
    const reachable = Math.min(k, this.sets.reduce((n, set) => Math.max(n, set.length), 0))
    return { blocks: this.sets.length, k, quorum, replicas, short, reachable }
  }

  /** One batch to one peer: HAVE, then PUT of what it lacks; a failure stops sending to that peer. */
  private send (queue: PeerQueue): void {
    const batch = queue.queued
    queue.queued = []
    queue.queuedBytes = 0
    const { signal, k } = this.options
    const work = (async () => {
      try {
        const { sessions, membership } = this.init
        const has = await sessions.call(queue.peer, async s => await s.have(batch.map(b => b.cid), { signal }), { signal })
        this.confirm(batch.filter((_, j) => has[j]))
        const missing = batch.filter((_, j) => !has[j])
        if (missing.length === 0) return
        // placed past the members that are full: say how deep, or the peer would not take it
        const acks = await sessions.call(queue.peer, async s => await s.put(missing, { signal, k: k + membership.fullCount() }), { signal })
        this.confirm(missing.filter((_, j) => acks[j]))
      } catch (err) {
        if (signal?.aborted === true) return
        const first = !queue.failed
        queue.failed = true
        // this batch, and (once) what was still queued for the peer
        const dropped = first ? [...batch, ...queue.queued] : batch
        queue.queued = []
        if (err instanceof PeerRefusedError && err.remoteCode === 'ERR_STORAGE_FULL') {
          if (first) this.log.info('peer is at its storage quota; its share goes to the next nearest', { peer: queue.peer.toString() })
          this.init.membership.markFull(queue.peer)
          this.reroute(dropped)
        } else if (first) {
          this.log.warn('could not replicate to peer', { peer: queue.peer.toString(), error: (err as Error).message })
        }
      }
    })()
    queue.inFlight.add(work)
    void work.finally(() => { queue.inFlight.delete(work) })
  }

  /** Blocks a full peer refused: each goes to the members that its replica set gained (the full peer is now skipped). */
  private reroute (blocks: Queued[]): void {
    for (const block of blocks) {
      const old = this.sets[block.index]
      const set = this.init.membership.replicaSet(blockKey(block.cid), this.options.k)
      const gained = set.filter(p => !old.some(o => o.equals(p)))
      this.sets[block.index] = [...old, ...gained]
      for (const peer of gained) {
        // this node: the block is stored here already
        if (peer.toString() === this.self) this.confirm([block])
        else this.enqueue(peer, block)
      }
    }
  }

  private confirm (blocks: Queued[]): void {
    for (const b of blocks) this.confirmed[b.index]++
    this.done += blocks.length
    if (blocks.length > 0) this.progress()
  }

  private progress (): void {
    this.options.onProgress?.({ type: 'replicate:confirmed', detail: { confirmed: this.done, wanted: this.wanted } })
  }

  private throwIfAborted (): void {
    if (this.options.signal?.aborted === true) throw new AbortedError('Replication was aborted')
  }
}
