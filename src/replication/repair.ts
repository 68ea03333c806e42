/**
 * Repair: every block on the k members nearest to it, as members come and
 * go. One pass, run by a Worker (replication/service.ts) every interval and
 * soon after the membership changes:
 *
 * 1. The repair view: the live storage members, and those that left less
 *    than the grace period ago (a restart does not make anyone copy). Its
 *    responsibility ranges (ranges.ts) say which k members hold each range.
 * 2. Claim: the blocks this node stores in its own ranges are held (GC keeps
 *    them), cache included: they are replicas now.
 * 3. Anti-entropy with every live neighbour, over the ranges both hold
 *    (anti-entropy.ts): what this node lacks is pulled. Only pulled: the
 *    neighbour pulls what it lacks in its own pass, so a block is copied
 *    once, by the node that needs it, not once by each holder. The member
 *    that replaces one that left gets its copies this way, as does a node
 *    that lost a copy.
 * 4. Hand-off: blocks held here in ranges this node is no longer a member of
 *    are pushed to the members that lack them (a node that joins receives
 *    its share this way, at once), then released and dropped once every
 *    member of the range confirms it holds them (pinned blocks stay).
 *    Nothing is dropped while a member of the range is in its grace period.
 *
 * Block transfers go through one RateLimiter (bytes/s) and wait while user
 * requests are in flight (a bounded wait: repair slows down, never stops).
 */
import type { PeerId } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { CorruptBlockError } from '../errors.ts'
import type { Logger } from '../platform/logger.ts'
import type { RateLimiter } from '../platform/worker.ts'
import type { RangeSession } from '../protocols/range-sync.ts'
import type { SessionPool } from '../protocols/session-pool.ts'
import type { ContentStore } from '../store/content-store.ts'
import { kadOf } from '../store/metadata.ts'
import { differences, storeRanges } from './anti-entropy.ts'
import type { Membership, RepairView } from './membership.ts'
import { rangeEnd, responsibilityRanges } from './ranges.ts'
import type { Range } from './ranges.ts'
import type { BlockSessions } from './sessions.ts'

/** Most bytes in one PUT (the frame limit is 4 MiB + 1 KiB). */
const MAX_PUT_BYTES = 3 * 1024 * 1024
/** blocks per PUT, GET and hand-off batch */
const BATCH = 64
/** what a pulled block is taken to weigh before it arrives (a 256 KiB chunk) */
const ESTIMATED_BLOCK_BYTES = 256 * 1024

export interface RepairInit {
  policy: { k: number }
  membership: Pick<Membership, 'self' | 'repairView' | 'peers'>
  store: ContentStore
  sessions: BlockSessions
  rangeSessions: SessionPool<RangeSession>
  limiter: RateLimiter
  /** the limiter's burst: pull batches are no larger */
  burstBytes: number
  /** a member that left counts as a holder for this long (ms) */
  graceMs: number
  /** resolves when no user request is in flight (or after a bounded wait) */
  yieldToUsers(signal: AbortSignal): Promise<void>
  now(): number
  logger: Logger
}

export interface Moved { blocks: number, bytes: number }

export interface RepairReport {
  startedAt: number
  endedAt: number
  /** neighbours compared with, and how many of them were in sync */
  peers: number
  inSync: number
  pushed: Moved
  pulled: Moved
  /** blocks released and dropped here once their new replicas confirmed them */
  handedOff: Moved
  /** blocks this node started holding because they are in its ranges */
  claimed: number
  /** range-sync frame bytes, both ways */
  exchangedBytes: number
  /** neighbours or batches that failed (retried next pass) */
  failures: number
}

export interface RepairProgress {
  startedAt: number
  phase: 'claim' | 'sync' | 'handoff'
  peer?: string
  pushed: Moved
  pulled: Moved
  handedOff: Moved
}

/** A raw-codec CID for a multihash: blocks are stored and exchanged by multihash. */
export function cidOf (mh: Uint8Array): CID {
  return CID.createV1(raw.code, Digest.decode(mh))
}

export class Repair {
  private readonly init: RepairInit
  /** the pass in progress */
  current?: RepairProgress
  /** the last pass that ended */
  last?: RepairReport
  /** since start */
  readonly totals = { passes: 0, pushed: { blocks: 0, bytes: 0 }, pulled: { blocks: 0, bytes: 0 }, handedOff: { blocks: 0, bytes: 0 } }
  private cached?: { signature: string, ranges: Range[] }
  /** this pass has said in the log that it moves blocks */
  private announced = false

  constructor (init: RepairInit) {
    this.init = init
  }

  private get self (): string {
    return this.init.membership.self.toString()
  }

  /** The repair view now, and its ranges (computed again only when the members change). */
  ranges (): { view: RepairView, ranges: Range[] } {
    const view = this.init.membership.repairView(this.init.graceMs)
    const signature = view.members.map(String).sort().join(',')
    if (this.cached?.signature !== signature) this.cached = { signature, ranges: responsibilityRanges(view.members, this.init.policy.k) }
    return { view, ranges: this.cached.ranges }
  }

  /**
   * The blocks (and bytes, and ranges) this node holds, by the live copies
   * their range has: members of its replica set that are up (a member in its
   * grace period is not; k at most).
   */
  byLiveCopies (): Map<number, Moved & { ranges: number }> {
    const { view, ranges } = this.ranges()
    const out = new Map<number, Moved & { ranges: number }>()
    for (const r of ranges) {
      if (!r.replicas.includes(this.self)) continue
      const live = Math.min(r.replicas.filter(p => view.live.has(p)).length, this.init.policy.k)
      const totals = this.init.store.metadata.rangeTotals(r.lo, rangeEnd(r))
      const entry = out.get(live) ?? { blocks: 0, bytes: 0, ranges: 0 }
      entry.blocks += totals.blocks
      entry.bytes += totals.bytes
      entry.ranges++
      out.set(live, entry)
    }
    return out
  }

  /** Held here in ranges with fewer live copies than k. */
  underReplicated (): Moved & { ranges: number } {
    const out = { blocks: 0, bytes: 0, ranges: 0 }
    for (const [live, totals] of this.byLiveCopies()) {
      if (live >= this.init.policy.k) continue
      out.blocks += totals.blocks
      out.bytes += totals.bytes
      out.ranges += totals.ranges
    }
    return out
  }

  async pass (signal: AbortSignal): Promise<RepairReport> {
    const { logger } = this.init
    const { view, ranges } = this.ranges()
    this.announced = false
    const report: RepairReport = {
      startedAt: this.init.now(), endedAt: 0, peers: 0, inSync: 0, pushed: { blocks: 0, bytes: 0 }, pulled: { blocks: 0, bytes: 0 }, handedOff: { blocks: 0, bytes: 0 }, claimed: 0, exchangedBytes: 0, failures: 0
    }
    const progress: RepairProgress = { startedAt: report.startedAt, phase: 'claim', pushed: report.pushed, pulled: report.pulled, handedOff: report.handedOff }
    this.current = progress
    try {
      const mine = ranges.filter(r => r.replicas.includes(this.self))
      for (const r of mine) report.claimed += await this.claim(r)

      progress.phase = 'sync'
      const neighbours = new Map<string, Range[]>()
      for (const r of mine) {
        for (const p of r.replicas) if (p !== this.self && view.live.has(p)) neighbours.set(p, [...(neighbours.get(p) ?? []), r])
      }
      const peers = new Map(view.members.map(p => [p.toString(), p]))
      for (const [id, shared] of neighbours) {
        if (signal.aborted) break
        progress.peer = id
        report.peers++
        try {
          if (await this.syncWith(peers.get(id) as PeerId, shared, report, signal)) report.inSync++
        } catch (err) {
          if (signal.aborted) break
          report.failures++
          // a peer that left meanwhile is no news: its departure is handled as such
          const gone = !this.init.membership.peers().some(p => p.toString() === id)
          logger[gone ? 'debug' : 'warn']('anti-entropy with a peer failed; it is retried next pass', { peer: id, error: (err as Error).message })
        }
      }
      progress.peer = undefined

      progress.phase = 'handoff'
      for (const r of ranges) {
        if (signal.aborted || r.replicas.includes(this.self)) continue
        try {
          await this.handOff(r, view, peers, report, signal)
        } catch (err) {
          if (signal.aborted) break
          report.failures++
          logger.warn('hand-off of blocks to their new replicas failed; it is retried next pass', { error: (err as Error).message })
        }
      }
    } finally {
      report.endedAt = this.init.now()
      this.current = undefined
      this.last = report
      this.totals.passes++
      for (const key of ['pushed', 'pulled', 'handedOff'] as const) {
        this.totals[key].blocks += report[key].blocks
        this.totals[key].bytes += report[key].bytes
      }
    }
    if (this.announced) {
      logger.info('repair ended', {
        pushed: report.pushed, pulled: report.pulled, handedOff: report.handedOff, peers: report.peers, failures: report.failures, ms: report.endedAt - report.startedAt
      })
    }
    this.announced = false
    return report
  }

  /** Holds the cache blocks this node stores in one of its ranges; how many. */
  private async claim (range: Range): Promise<number> {
    const { store } = this.init
    let claimed = 0
    while (true) {
      const mhs = store.metadata.unprotectedInRange(range.lo, rangeEnd(range), 1024)
      if (mhs.length === 0) return claimed
      await store.holdMany(mhs.map(cidOf))
      claimed += mhs.length
    }
  }

  /** Anti-entropy with one neighbour over the ranges both hold, pulling what this node lacks; true when they were in sync. */
  private async syncWith (peer: PeerId, shared: Range[], report: RepairReport, signal: AbortSignal): Promise<boolean> {
    const local = storeRanges(this.init.store.metadata)
    return await this.init.rangeSessions.call(peer, async session => {
      const before = session.traffic
      let inSync = true
      try {
        for await (const diff of differences(shared, local, session, { signal, kadOf })) {
          inSync = false
          // what the peer lacks, it pulls itself
          if (diff.missingHere.length > 0) await this.pull(peer, diff.missingHere, report.pulled, signal)
        }
      } finally {
        const after = session.traffic
        report.exchangedBytes += after.read + after.written - before.read - before.written
      }
      return inSync
    }, { signal })
  }

  /** The first transfer of a pass says so in the log (the end of the pass says how much moved). */
  private announce (what: string, peer: PeerId, blocks: number): void {
    if (this.announced) return
    this.announced = true
    this.init.logger.info('repair started moving blocks', { first: what, peer: peer.toString(), blocks })
  }

  /** Sends `mhs` (stored here) to `peer`; the ones it stored are counted in `moved`; which it acknowledged. */
  private async push (peer: PeerId, mhs: Uint8Array[], moved: Moved, signal: AbortSignal): Promise<Set<string>> {
    const { store, sessions, limiter } = this.init
    this.announce('hand-off', peer, mhs.length)
    const acked = new Set<string>()
    let batch: Array<{ cid: CID, bytes: Uint8Array }> = []
    let size = 0
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return
      const blocks = batch
      batch = []
      size = 0
      await this.init.yieldToUsers(signal)
      await limiter.take(blocks.reduce((n, b) => n + b.bytes.byteLength, 0), signal)
      const acks = await sessions.call(peer, async s => await s.put(blocks, { signal }), { signal })
      blocks.forEach((b, i) => {
        if (!acks[i]) return
        acked.add(hex(b.cid.multihash.bytes))
        moved.blocks++
        moved.bytes += b.bytes.byteLength
      })
    }
    for (const mh of mhs) {
      if (signal.aborted) break
      const cid = cidOf(mh)
      let bytes: Uint8Array
      try {
        bytes = await store.blocks.get(cid)
      } catch (err) {
        // gone meanwhile (GC), or corrupt here (quarantined; scrub and reads refetch it)
        if (err instanceof CorruptBlockError) this.init.logger.warn('a block to push is corrupt here; it was quarantined', { cid: cid.toString() })
        continue
      }
      if (batch.length >= BATCH || (batch.length > 0 && size + bytes.byteLength > MAX_PUT_BYTES)) await flush()
      batch.push({ cid, bytes })
      size += bytes.byteLength
    }
    await flush()
    return acked
  }

  /** Fetches `mhs` from `peer`, stores and holds them. */
  private async pull (peer: PeerId, mhs: Uint8Array[], moved: Moved, signal: AbortSignal): Promise<void> {
    const { store, sessions, limiter } = this.init
    this.announce('pull', peer, mhs.length)
    // the rate is paid before each GET, for blocks of at most a chunk's size
    // (the difference is given back), in batches no larger than the limiter's burst
    const batch = Math.max(1, Math.min(BATCH, Math.floor(this.init.burstBytes / ESTIMATED_BLOCK_BYTES)))
    for (let i = 0; i < mhs.length && !signal.aborted; i += batch) {
      // a block pushed here meanwhile (by an add still in flight, say) is not fetched again
      const cids: CID[] = []
      for (const cid of mhs.slice(i, i + batch).map(cidOf)) if (!await store.blocks.has(cid)) cids.push(cid)
      if (cids.length === 0) continue
      await this.init.yieldToUsers(signal)
      const estimate = cids.length * ESTIMATED_BLOCK_BYTES
      await limiter.take(estimate, signal)
      const got = (await sessions.call(peer, async s => await s.get(cids, { signal }), { signal })).filter(g => g.bytes != null)
      const bytes = got.reduce((n, g) => n + (g.bytes?.byteLength ?? 0), 0)
      if (bytes < estimate) limiter.refund(estimate - bytes)
      else await limiter.take(bytes - estimate, signal)
      await store.writeSession(async () => {
        for (const g of got) await store.blocks.put(g.cid, g.bytes as Uint8Array, { verified: true })
        await store.holdMany(got.map(g => g.cid))
      }, { signal })
      await store.blocks.sync({ signal })
      moved.blocks += got.length
      moved.bytes += bytes
    }
  }

  /**
   * Blocks held here in a range this node is not a member of: pushed to the
   * members that lack them, then released and dropped once every member
   * confirms it holds them.
   */
  private async handOff (range: Range, view: RepairView, peers: Map<string, PeerId>, report: RepairReport, signal: AbortSignal): Promise<void> {
    const { store, sessions } = this.init
    // a member in its grace period may come back with its copies, or not: keep ours until it is settled
    if (!range.replicas.every(p => view.live.has(p))) return
    const members = range.replicas.map(p => peers.get(p) as PeerId)
    const hi = rangeEnd(range)
    let after: Uint8Array | undefined
    while (!signal.aborted) {
      const page = store.metadata.heldInRange(range.lo, hi, { after, limit: BATCH * 4 })
      if (page.length === 0) return
      after = page[page.length - 1].kad
      const cids = page.map(b => cidOf(b.mh))
      const confirmed = new Array<number>(page.length).fill(0)
      for (const member of members) {
        const has = await sessions.call(member, async s => await s.have(cids, { signal }), { signal })
        const missing = page.filter((_, i) => !has[i]).map(b => b.mh)
        const acked = missing.length === 0 ? new Set<string>() : await this.push(member, missing, report.pushed, signal)
        page.forEach((b, i) => { if (has[i] || acked.has(hex(b.mh))) confirmed[i]++ })
      }
      const done = page.filter((_, i) => confirmed[i] === members.length)
      if (done.length === 0) continue
      store.metadata.releaseMany(done.map(b => b.mh))
      const dropped = await store.drop(done.map(b => cidOf(b.mh)), { signal })
      report.handedOff.blocks += dropped.removedBlocks
      report.handedOff.bytes += dropped.freedBytes
    }
  }
}

function hex (bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex')
}
