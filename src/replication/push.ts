/**
 * Replicate on add: every block goes to the other members of its replica
 * set, in parallel per peer with a window of PUTs in flight; blocks a peer
 * already has (HAVE) are not sent again. The report counts the confirmed
 * replicas of every block (self counts when it is in the set and has it).
 */
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { AbortedError } from '../errors.ts'
import { silentLogger } from '../platform/logger.ts'
import type { Logger } from '../platform/logger.ts'
import type { Membership } from './membership.ts'
import { blockKey } from './placement.ts'
import type { SessionPool } from './sessions.ts'

export interface PushInit {
  membership: Membership
  sessions: SessionPool
  /** where the blocks to send are read from */
  local: { get(cid: CID, options?: { signal?: AbortSignal }): Promise<Uint8Array> }
  logger?: Logger
}

export interface ReplicateOptions {
  /** replica set size, self included */
  k: number
  /** confirmed replicas each block needs (capped at the replica set's size) */
  quorum: number
  /** PUT requests in flight per peer */
  window?: number
  /** blocks per PUT request (and at most ~4 MiB) */
  batch?: number
  signal?: AbortSignal
  onProgress?(event: ReplicationProgress): void
}

export interface ReplicationProgress {
  /** replica copies confirmed so far, self included */
  confirmed: number
  /** replica copies wanted: the sum of the replica sets' sizes */
  wanted: number
}

export interface ReplicationReport {
  blocks: number
  k: number
  /** the quorum asked for; blocks whose replica set is smaller need all of it */
  quorum: number
  /** replicas[n] = how many blocks have n confirmed replicas */
  replicas: number[]
  /** blocks below their quorum */
  short: number
  /** size of the largest replica set (the storage peers reachable, capped at k) */
  reachable: number
}

export async function replicate (cids: CID[], init: PushInit, options: ReplicateOptions): Promise<ReplicationReport> {
  const log = init.logger ?? silentLogger
  const { membership } = init
  const self = membership.self.toString()
  if (cids.length > 0 && membership.peers().length + 1 < options.k) {
    await membership.lookupReplicaSet(blockKey(cids[0]), options.k, { signal: options.signal })
  }

  const sets = cids.map(cid => membership.replicaSet(blockKey(cid), options.k))
  const confirmed: number[] = sets.map(set => set.some(p => p.toString() === self) ? 1 : 0)
  const wanted = sets.reduce((n, set) => n + set.length, 0)
  let done = confirmed.reduce((a, b) => a + b, 0)
  options.onProgress?.({ confirmed: done, wanted })

  const perPeer = new Map<string, { peer: PeerId, indexes: number[] }>()
  sets.forEach((set, i) => {
    for (const peer of set) {
      const key = peer.toString()
      if (key === self) continue
      const entry = perPeer.get(key) ?? { peer, indexes: [] }
      entry.indexes.push(i)
      perPeer.set(key, entry)
    }
  })

  const confirm = (indexes: number[]): void => {
    for (const i of indexes) confirmed[i]++
    done += indexes.length
    options.onProgress?.({ confirmed: done, wanted })
  }

  await Promise.all([...perPeer.values()].map(async ({ peer, indexes }) => {
    try {
      await pushToPeer(peer, indexes, cids, init, options, confirm)
    } catch (err) {
      if (options.signal?.aborted === true) return
      log.warn('could not replicate to peer', { peer: peer.toString(), blocks: indexes.length, error: (err as Error).message })
    }
  }))
  if (options.signal?.aborted === true) throw new AbortedError('Replication was aborted')

  const replicas = new Array<number>(options.k + 1).fill(0)
  let short = 0
  sets.forEach((set, i) => {
    replicas[Math.min(confirmed[i], options.k)]++
    if (confirmed[i] < Math.min(options.quorum, set.length)) short++
  })
  return { blocks: cids.length, k: options.k, quorum: options.quorum, replicas, short, reachable: Math.max(0, ...sets.map(s => s.length)) }
}

async function pushToPeer (peer: PeerId, indexes: number[], cids: CID[], init: PushInit, options: ReplicateOptions, confirm: (indexes: number[]) => void): Promise<void> {
  const signal = options.signal
  const session = await init.sessions.get(peer, { signal })
  const has = await session.have(indexes.map(i => cids[i]), { signal })
  confirm(indexes.filter((_, j) => has[j]))
  const missing = indexes.filter((_, j) => !has[j])

  const batchSize = options.batch ?? 16
  const batches: number[][] = []
  for (let i = 0; i < missing.length; i += batchSize) batches.push(missing.slice(i, i + batchSize))

  let next = 0
  const worker = async (): Promise<void> => {
    while (next < batches.length) {
      const batch = batches[next++]
      const blocks = await Promise.all(batch.map(async i => ({ cid: cids[i], bytes: await init.local.get(cids[i], { signal }) })))
      const s = await init.sessions.get(peer, { signal })
      const acks = await s.put(blocks, { signal })
      confirm(batch.filter((_, j) => acks[j]))
    }
  }
  await Promise.all(Array.from({ length: Math.min(options.window ?? 4, batches.length) }, worker))
}
