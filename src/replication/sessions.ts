/**
 * Open block-exchange sessions, reused across requests: a few streams per
 * peer so that one slow answer does not hold up the rest.
 */
import type { PeerId } from '@libp2p/interface'
import type { ShoalLibp2p } from '../net/libp2p.ts'
import { BLOCK_PROTOCOL, BlockSession } from '../protocols/block-exchange.ts'
import type { BlockExchangeLimits } from '../protocols/block-exchange.ts'

export interface SessionPoolInit {
  libp2p: ShoalLibp2p
  /** streams per peer */
  streamsPerPeer?: number
  limits?: Partial<BlockExchangeLimits>
  protocol?: string
}

export class SessionPool {
  private readonly init: SessionPoolInit
  private readonly sessions = new Map<string, BlockSession[]>()
  private readonly opening = new Map<string, Promise<BlockSession>>()
  private turn = 0

  constructor (init: SessionPoolInit) {
    this.init = init
  }

  /** A session to `peer`: a new stream while it has fewer than `streamsPerPeer`, else round-robin. */
  async get (peer: PeerId, options: { signal?: AbortSignal } = {}): Promise<BlockSession> {
    const key = peer.toString()
    const open = (this.sessions.get(key) ?? []).filter(s => !s.closed)
    this.sessions.set(key, open)
    if (open.length < (this.init.streamsPerPeer ?? 2)) {
      let opening = this.opening.get(key)
      if (opening == null) {
        opening = BlockSession.open(
          async (p, protocol, o) => await this.init.libp2p.dialProtocol(p, protocol, o),
          peer,
          { signal: options.signal, limits: this.init.limits, protocol: this.init.protocol ?? BLOCK_PROTOCOL }
        ).then(session => {
          this.sessions.set(key, [...(this.sessions.get(key) ?? []), session])
          return session
        }).finally(() => { this.opening.delete(key) })
        this.opening.set(key, opening)
      }
      if (open.length === 0) return await opening
    }
    return open[this.turn++ % open.length]
  }

  async closeAll (): Promise<void> {
    const all = [...this.sessions.values()].flat()
    this.sessions.clear()
    await Promise.allSettled(all.map(async s => { await s.close() }))
  }
}
