/**
 * Where the replicas of a DAG are: for every block, how many members of its
 * replica set confirm (HAVE) that they hold it; and which peers hold the root.
 */
import type { CID } from 'multiformats/cid'
import type { BlockSource } from '../content/blocks.ts'
import { walkStructure } from '../content/dag.ts'
import type { Membership } from './membership.ts'
import { blockKey } from './placement.ts'
import type { BlockSessions } from './sessions.ts'

export interface ReplicaStatus {
  k: number
  blocks: number
  /** histogram[n] = blocks with n confirmed replicas in their replica set, n = 0..k */
  histogram: number[]
  /** peers (self included) that hold the root block */
  rootHolders: string[]
}

export interface StatusInit {
  membership: Membership
  sessions: BlockSessions
  /** the local store's view */
  local: { has(cid: CID): Promise<boolean> }
  /** reads the DAG (local first, else the network); asked not to prefetch */
  fetcher: { get(cid: CID, options?: { signal?: AbortSignal, prefetch?: boolean }): Promise<Uint8Array> }
  k: number
}

export async function replicaStatus (root: CID, init: StatusInit, options: { signal?: AbortSignal } = {}): Promise<ReplicaStatus> {
  const { membership, k } = init
  const self = membership.self.toString()
  const cids: CID[] = []
  // the interior nodes are read (from here or a replica); the leaves are only asked about
  const nodes: BlockSource = { get: async (cid, o) => await init.fetcher.get(cid, { ...o, prefetch: false }) }
  for await (const block of walkStructure(root, nodes, options)) cids.push(block.cid)

  const counts = new Array<number>(cids.length).fill(0)
  const perPeer = new Map<string, number[]>()
  for (const [i, cid] of cids.entries()) {
    for (const peer of membership.replicaSet(blockKey(cid), k)) {
      const key = peer.toString()
      if (key === self) {
        if (await init.local.has(cid)) counts[i]++
        continue
      }
      perPeer.set(key, [...(perPeer.get(key) ?? []), i])
    }
  }
  const peers = new Map(membership.peers().map(p => [p.toString(), p]))
  const rootHolders: string[] = (await init.local.has(root)) ? [self] : []
  await Promise.all([...peers.entries()].map(async ([key, peer]) => {
    const indexes = perPeer.get(key) ?? []
    try {
      const has = await init.sessions.call(peer, async s => await s.have([root, ...indexes.map(i => cids[i])], options), options)
      if (has[0]) rootHolders.push(key)
      indexes.forEach((i, j) => { if (has[j + 1]) counts[i]++ })
    } catch {
      // an unreachable peer confirms nothing
    }
  }))

  const histogram = new Array<number>(k + 1).fill(0)
  for (const c of counts) histogram[Math.min(c, k)]++
  return { k, blocks: cids.length, histogram, rootHolders: rootHolders.sort() }
}
