/**
 * What a node need not keep of names:
 * - a record of tombstones only, once every replica of the key in the
 *   current view, and every peer known to have held it, has been seen
 *   holding exactly this record (by a PUT's answer or a digest), and the
 *   grace period has passed since this node first held it as tombstones
 *   only (by its own clock: a writer's clock plays no part). The collected
 *   record is kept aside one more grace period, so what it obsoletes does
 *   not come back and peers still holding it collect too;
 * - a record of a name this node is not a replica of (it coordinated a
 *   write), once every member of its replica set has been seen holding it
 *   (hand-off; its coordinator counter stays).
 */
import { equals as equalBytes } from 'uint8arrays/equals'
import type { Logger } from '../platform/logger.ts'
import type { ReplicationPolicy } from '../replication/policy.ts'
import { canCollectTombstone } from './merge.ts'
import { nameKey } from './path.ts'
import { decodeRecord } from './record.ts'
import type { NameMembership } from './service.ts'
import type { NameStore } from './storage.ts'

export interface NameGcInit {
  selfId: string
  policy: Pick<ReplicationPolicy, 'k'>
  membership: NameMembership
  storage: NameStore
  /** how long a deleted name's tombstones are kept once every replica has them */
  graceMs: number
  /** this node's clock, ms */
  now(): number
  logger: Logger
}

export class NameGc {
  private readonly init: NameGcInit

  constructor (init: NameGcInit) {
    this.init = init
  }

  /**
   * Drops what this node need not keep: a record of tombstones only that
   * every replica and known holder has been seen holding, once the grace
   * period has passed; and a record of a name this node is not a replica of
   * once every member of its replica set has been seen holding it (its
   * coordinator counter stays). Returns the names dropped.
   */
  sweep (): { collected: string[], handedOff: string[] } {
    const { storage, membership } = this.init
    const out = { collected: [] as string[], handedOff: [] as string[] }
    const { graceMs } = this.init
    const now = this.init.now()
    let after: string | undefined
    while (true) {
      const rows = storage.listNames({ after, limit: 256 })
      if (rows.length === 0) break
      after = rows[rows.length - 1].key
      for (const row of rows) {
        const set = membership.replicaSet(nameKey(row.key), this.init.policy.k).map(p => p.toString())
        const peers = storage.namePeers(row.key)
        const seenBy = new Set([this.init.selfId, ...peers.filter(p => equalBytes(p.hash, row.hash)).map(p => p.peer)])
        if (!row.live) {
          const holders = [...new Set([...set, ...peers.map(p => p.peer)])]
          if (canCollectTombstone(decodeRecord(row.record), { seenBy, replicaSet: holders, now, graceMs, since: row.deadSince ?? row.updated })) {
            storage.deleteName(row.key, { record: row.record, hash: row.hash, at: now })
            out.collected.push(row.key)
            this.init.logger.info('collected a deleted name: every replica has its tombstone', { key: row.key })
            continue
          }
        }
        if (!set.includes(this.init.selfId) && set.every(p => seenBy.has(p))) {
          storage.deleteName(row.key)
          out.handedOff.push(row.key)
          this.init.logger.debug('handed a name off to its replicas', { key: row.key })
        }
      }
      if (rows.length < 256) break
    }
    // collected records are kept one more grace period, so that peers still holding them collect too
    storage.purgeNameGraves(now - graceMs)
    return out
  }
}
