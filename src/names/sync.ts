/**
 * Re-sync of names between replicas: a round with one peer sends it the
 * digest (name, hash of the record) of the names this node holds whose
 * replica set includes that peer, and PUTs each name that differs; the
 * answers carry back what this node lacks. Both sides do it, so a pair
 * converges in one round. Rounds run when a storage peer joins, and every
 * interval with one peer in turn (names/service.ts schedules them).
 */
import type { PeerId } from '@libp2p/interface'
import { equals as equalBytes } from 'uint8arrays/equals'
import type { Logger } from '../platform/logger.ts'
import { recordHash } from '../protocols/name-sync.ts'
import type { NameSession, NameSyncLimits } from '../protocols/name-sync.ts'
import type { ReplicationPolicy } from '../replication/policy.ts'
import { nameKey } from './path.ts'
import type { NameReplica } from './replica.ts'
import type { NameMembership } from './service.ts'
import type { NameStore } from './storage.ts'

export interface NameSyncerInit {
  policy: Pick<ReplicationPolicy, 'k'>
  membership: NameMembership
  storage: NameStore
  replica: NameReplica
  call<T>(peer: PeerId, fn: (s: NameSession) => Promise<T>, signal?: AbortSignal): Promise<T>
  limits: NameSyncLimits
  logger: Logger
}

export interface SyncStats {
  checked: number
  sent: number
  received: number
}

export class NameSyncer {
  private readonly init: NameSyncerInit
  private readonly syncing = new Map<string, Promise<SyncStats>>()

  constructor (init: NameSyncerInit) {
    this.init = init
  }

  /** One round with `peer`; one round at a time per peer (a second waits for the first). */
  async syncWith (peer: PeerId, options: { signal?: AbortSignal } = {}): Promise<SyncStats> {
    const id = peer.toString()
    const running = this.syncing.get(id)
    if (running != null) await running.catch(() => {})
    const round = this.syncRound(peer, options)
    this.syncing.set(id, round)
    try {
      return await round
    } finally {
      if (this.syncing.get(id) === round) this.syncing.delete(id)
    }
  }

  private async syncRound (peer: PeerId, options: { signal?: AbortSignal }): Promise<SyncStats> {
    const { storage, membership } = this.init
    const id = peer.toString()
    const stats = { checked: 0, sent: 0, received: 0 }
    let after: string | undefined
    while (true) {
      const rows = storage.listNames({ after, limit: this.init.limits.maxSyncKeys })
      if (rows.length === 0) break
      after = rows[rows.length - 1].key
      const mine = rows.filter(row => membership.replicaSet(nameKey(row.key), this.init.policy.k).some(p => p.toString() === id))
      if (mine.length > 0) {
        const theirs = await this.init.call(peer, async s => await s.sync(mine.map(r => [r.key, r.hash]), options), options.signal)
        stats.checked += mine.length
        await Promise.all(mine.map(async (row, i) => {
          const their = theirs[i]
          if (their != null && equalBytes(their, row.hash)) {
            storage.setNamePeer(row.key, id, row.hash)
            return
          }
          // send the current record (it may have changed since the digest)
          const current = storage.getName(row.key)
          if (current == null) return
          try {
            const answer = await this.init.call(peer, async s => await s.put(current.record, options), options.signal)
            stats.sent++
            storage.setNamePeer(row.key, id, answer.hash)
            if (answer.record != null) {
              const record = await this.init.replica.accept(answer.record, { expectKey: row.key })
              if (this.init.replica.mergeLocal(record).changed) stats.received++
              storage.setNamePeer(row.key, id, recordHash(answer.record))
            }
          } catch (err) {
            if (options.signal?.aborted === true) throw err
            if (!(options.signal?.aborted ?? false)) this.init.logger.warn('could not re-sync a name with a peer', { key: row.key, peer: id, error: (err as Error).message })
          }
        }))
      }
      if (rows.length < this.init.limits.maxSyncKeys) break
    }
    if (stats.sent > 0 || stats.received > 0) this.init.logger.info('re-synced names with a peer', { peer: id, ...stats })
    return stats
  }
}
