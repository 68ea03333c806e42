/**
 * Where a key lives: the replica set of a key (a block's multihash, or a
 * name) is the k peers, self included, closest to it by XOR distance in the
 * Kademlia keyspace. Keys and peers are mapped into that space the way
 * kad-dht maps them: sha2-256 of the key bytes (a block's multihash bytes),
 * sha2-256 of the peer id's multihash bytes.
 */
import { createHash } from 'node:crypto'
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

export const DEFAULT_REPLICAS = 3

/** The DHT key of a block: its multihash bytes (v0 and v1 CIDs of the same bytes share it). */
export function blockKey (cid: CID): Uint8Array {
  return cid.multihash.bytes
}

/** Position of a DHT key in the keyspace. */
export function kadId (key: Uint8Array): Uint8Array {
  return createHash('sha256').update(key).digest()
}

const peerIds = new WeakMap<PeerId, Uint8Array>()

/** Position of a peer in the keyspace (cached per PeerId object). */
export function peerKadId (peer: PeerId): Uint8Array {
  let id = peerIds.get(peer)
  if (id == null) {
    id = kadId(peer.toMultihash().bytes)
    peerIds.set(peer, id)
  }
  return id
}

/** Negative when `a` is closer to `target` than `b`, by XOR distance. */
export function compareDistance (a: Uint8Array, b: Uint8Array, target: Uint8Array): number {
  for (let i = 0; i < target.length; i++) {
    const da = a[i] ^ target[i]
    const db = b[i] ^ target[i]
    if (da !== db) return da - db
  }
  return 0
}

/** The `k` peers of `candidates` closest to `key`, nearest first (duplicates removed). */
export function closestPeers (key: Uint8Array, candidates: Iterable<PeerId>, k: number): PeerId[] {
  const target = kadId(key)
  const unique = new Map<string, PeerId>()
  for (const p of candidates) unique.set(p.toString(), p)
  return [...unique.values()]
    .sort((a, b) => compareDistance(peerKadId(a), peerKadId(b), target))
    .slice(0, k)
}
