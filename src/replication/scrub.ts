/**
 * Scrub: every stored block is read and verified again in the background,
 * a full pass per period (default 7 days), a slice per step, so the disk
 * sees a steady trickle. A copy whose bytes no longer match its CID is
 * quarantined by the store and fetched again from a replica, as one found
 * bad on a read is.
 */
import type { CID } from 'multiformats/cid'
import { CorruptBlockError } from '../errors.ts'
import type { Logger } from '../platform/logger.ts'
import type { ContentStore } from '../store/content-store.ts'
import { cidOf } from './repair.ts'

export interface ScrubInit {
  store: ContentStore
  /** fetches a block from the network and keeps it (the node's BlockFetcher) */
  refetch(cid: CID, options: { signal?: AbortSignal }): Promise<unknown>
  /** one full pass over the stored bytes in this long (ms) */
  periodMs: number
  /** a step runs this often (ms) */
  stepMs: number
  now(): number
  logger: Logger
}

export interface ScrubStats {
  checkedBlocks: number
  checkedBytes: number
  corrupt: number
  restored: number
  /** corrupt copies that no replica could give back yet (retried on the next pass) */
  unrestored: number
  fullPasses: number
  /** when the last full pass ended (ms since the epoch) */
  lastFullPass?: number
}

export class Scrub {
  private readonly init: ScrubInit
  private cursor?: Uint8Array
  readonly stats: ScrubStats = { checkedBlocks: 0, checkedBytes: 0, corrupt: 0, restored: 0, unrestored: 0, fullPasses: 0 }

  constructor (init: ScrubInit) {
    this.init = init
  }

  /** Verifies the next slice: the stored bytes times step / period (at least one block). */
  async step (signal: AbortSignal): Promise<void> {
    const { store } = this.init
    const total = store.metadata.stat('bytes')
    const budget = Math.max(1, Math.ceil(total * this.init.stepMs / this.init.periodMs))
    let spent = 0
    while (spent < budget && !signal.aborted) {
      const page = store.metadata.blocksInRange(new Uint8Array(32), undefined, { after: this.cursor, limit: 64 })
      if (page.length === 0) {
        this.cursor = undefined
        this.stats.fullPasses++
        this.stats.lastFullPass = this.init.now()
        return
      }
      for (const block of page) {
        if (spent >= budget || signal.aborted) return
        this.cursor = block.kad
        spent += block.size
        await this.check(cidOf(block.mh), block.size, signal)
      }
    }
  }

  private async check (cid: CID, size: number, signal: AbortSignal): Promise<void> {
    this.stats.checkedBlocks++
    this.stats.checkedBytes += size
    try {
      await this.init.store.blocks.get(cid, { signal })
      return
    } catch (err) {
      if (!(err instanceof CorruptBlockError)) return
    }
    this.stats.corrupt++
    this.init.logger.warn('scrub found a corrupt block (quarantined); fetching it from a replica', { cid: cid.toString() })
    try {
      await this.init.refetch(cid, { signal })
      this.stats.restored++
    } catch (err) {
      this.stats.unrestored++
      this.init.logger.warn('no replica could give back a corrupt block yet', { cid: cid.toString(), error: (err as Error).message })
    }
  }
}
