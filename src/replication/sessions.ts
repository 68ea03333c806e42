/**
 * The node's block-exchange sessions: a SessionPool of BlockSessions, two
 * streams per peer so that one slow answer does not hold up the rest.
 */
import type { ShoalLibp2p } from '../net/libp2p.ts'
import { BLOCK_PROTOCOL, BlockSession } from '../protocols/block-exchange.ts'
import type { BlockExchangeLimits } from '../protocols/block-exchange.ts'
import { SessionPool } from '../protocols/session-pool.ts'

export type BlockSessions = SessionPool<BlockSession>

export function blockSessions (libp2p: ShoalLibp2p, options: { limits?: Partial<BlockExchangeLimits>, protocol?: string, streamsPerPeer?: number } = {}): BlockSessions {
  return new SessionPool({
    open: async (peer, { signal }) => new BlockSession(await libp2p.dialProtocol(peer, options.protocol ?? BLOCK_PROTOCOL, { signal }), peer, options.limits),
    streamsPerPeer: options.streamsPerPeer ?? 2
  })
}
