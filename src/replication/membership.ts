/**
 * Which peers take part in storage: the connected peers that speak the block
 * protocol (learnt through identify, via a libp2p topology), plus this node.
 * Replica sets are computed over this view; when it holds fewer than k
 * members a DHT lookup of the key finds (and connects) more.
 */
import type { PeerId } from '@libp2p/interface'
import type { ShoalLibp2p } from '../net/libp2p.ts'
import { BLOCK_PROTOCOL } from '../protocols/block-exchange.ts'
import { closestPeers } from './placement.ts'

/** A thin view is looked up in the DHT at most this often. */
const LOOKUP_INTERVAL_MS = 10_000

export interface MembershipInit {
  libp2p: ShoalLibp2p
  protocol?: string
  /** bound on a DHT lookup for a thin view (default 5 s) */
  lookupTimeoutMs?: number
  /** clock for departures (ms) */
  now?(): number
}

/** Who holds replicas, for repair: the live members, and those that left less than a grace period ago. */
export interface RepairView {
  /** self, the connected storage peers, and the departed ones still in their grace period */
  members: PeerId[]
  /** ids of the members that are connected now (self included) */
  live: Set<string>
  /** ids of the departed members still in their grace period, with when they left */
  departed: Map<string, number>
}

export class Membership {
  private readonly libp2p: ShoalLibp2p
  private readonly protocol: string
  private readonly lookupTimeoutMs: number
  private lastLookup = 0
  private readonly members = new Map<string, PeerId>()
  private readonly departed = new Map<string, { peer: PeerId, at: number }>()
  private readonly now: () => number
  private topologyId?: string
  private readonly listeners = new Set<(peer: PeerId, joined: boolean) => void>()
  /** peers that refused a write for their storage quota, until when (ms) */
  private readonly full = new Map<string, number>()

  constructor (init: MembershipInit) {
    this.libp2p = init.libp2p
    this.protocol = init.protocol ?? BLOCK_PROTOCOL
    this.lookupTimeoutMs = init.lookupTimeoutMs ?? 5000
    this.now = init.now ?? Date.now
  }

  async start (): Promise<void> {
    this.topologyId = await this.libp2p.register(this.protocol, {
      onConnect: (peer) => { this.update(peer, true) },
      onDisconnect: (peer) => { this.update(peer, false) }
    })
  }

  stop (): void {
    if (this.topologyId != null) this.libp2p.unregister(this.topologyId)
    this.members.clear()
    this.departed.clear()
  }

  get self (): PeerId {
    return this.libp2p.peerId
  }

  /** Connected storage peers (not self). */
  peers (): PeerId[] {
    return [...this.members.values()]
  }

  /**
   * The members for repair: a member that left stays in it for `graceMs`, so
   * a restart or a short outage does not make others copy its blocks.
   */
  repairView (graceMs: number): RepairView {
    const now = this.now()
    const departed = new Map<string, number>()
    const members = [this.self, ...this.members.values()]
    for (const [key, d] of this.departed) {
      if (now - d.at >= graceMs) {
        this.departed.delete(key)
        continue
      }
      departed.set(key, d.at)
      members.push(d.peer)
    }
    return { members, live: new Set([this.self.toString(), ...this.members.keys()]), departed }
  }

  /** Called with (peer, true) when a storage peer connects, (peer, false) when it leaves. */
  onChange (listener: (peer: PeerId, joined: boolean) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /**
   * The replica set of `key` for new writes, nearest first, self included:
   * the k nearest members that have not said lately that they are full.
   */
  replicaSet (key: Uint8Array, k: number): PeerId[] {
    this.forgetFull()
    const candidates = [this.self, ...this.members.values()].filter(p => !this.full.has(p.toString()))
    return closestPeers(key, candidates, k)
  }

  /** A peer refused a write for its quota: new writes skip it for `forMs` (they go to the next nearest). */
  markFull (peer: PeerId, forMs = 60_000): void {
    this.full.set(peer.toString(), this.now() + forMs)
  }

  /** How many members new writes skip now because they are full. */
  fullCount (): number {
    this.forgetFull()
    return this.full.size
  }

  /** Full peers whose time is up count again. */
  private forgetFull (): void {
    const now = this.now()
    for (const [peer, until] of this.full) if (until <= now) this.full.delete(peer)
  }

  /**
   * The replica set, asking the DHT for the closest peers first when the view
   * is thin (fewer than k members); the peers it finds are dialled and join
   * the view once identify says they speak the block protocol.
   */
  async lookupReplicaSet (key: Uint8Array, k: number, options: { signal?: AbortSignal } = {}): Promise<PeerId[]> {
    // with nobody connected there is no one to ask (kad-dht would wait for a peer);
    // and one lookup at a time, at most every few seconds, is enough to find who is there
    const now = Date.now()
    if (this.members.size + 1 < k && this.libp2p.getConnections().length > 0 && now - this.lastLookup > LOOKUP_INTERVAL_MS) {
      this.lastLookup = now
      const signals = [AbortSignal.timeout(this.lookupTimeoutMs)]
      if (options.signal != null) signals.push(options.signal)
      try {
        for await (const event of this.libp2p.services.dht.getClosestPeers(key, { signal: AbortSignal.any(signals) })) {
          if (event.name === 'FINAL_PEER' && !this.members.has(event.peer.id.toString()) && !event.peer.id.equals(this.self)) {
            await this.libp2p.dialProtocol(event.peer.id, this.protocol, { signal: AbortSignal.timeout(5000) })
              .then(async stream => { await stream.close({ signal: AbortSignal.timeout(5000) }).catch((err: Error) => { stream.abort(err) }) })
              .catch(() => {})
          }
        }
      } catch {
        // a lookup that fails leaves the view as it is
      }
    }
    return this.replicaSet(key, k)
  }

  private update (peer: PeerId, joined: boolean): void {
    const key = peer.toString()
    if (joined === this.members.has(key)) return
    if (joined) {
      this.members.set(key, peer)
      this.departed.delete(key)
    } else {
      this.members.delete(key)
      this.departed.set(key, { peer, at: this.now() })
    }
    for (const l of this.listeners) l(peer, joined)
  }
}
