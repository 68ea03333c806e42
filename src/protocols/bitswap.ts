/**
 * Bitswap (/ipfs/bitswap/1.2.0, 1.1.0, 1.0.0), served so that IPFS nodes
 * (Kubo, Helia) connected to a shoal node fetch its blocks directly:
 * want-have answered with HAVE or DONT_HAVE (a small block itself), want-block
 * with the block. Only what this node stores is served, never fetched for the
 * asker; shoal never asks through bitswap (its own block protocol does that).
 * The protocol is Helia's implementation (@helia/bitswap), given this node's
 * libp2p and a read-only view of its store; peers reach it only where they
 * may connect at all (the swarm key, allowPeers).
 */
import { withBitswap } from '@helia/bitswap'
import type { ComponentLogger, Libp2p, Startable } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import { sha256, sha512 } from 'multiformats/hashes/sha2'
import type { AbortOptions } from '../content/blocks.ts'
import { UnsupportedError } from '../errors.ts'

/** What bitswap may read: blocks stored here, served as they are (the asker verifies). */
export interface BitswapBlocks {
  has(cid: CID, options?: AbortOptions): Promise<boolean>
  get(cid: CID, options?: AbortOptions): Promise<Uint8Array>
}

export interface BitswapServerInit {
  libp2p: Libp2p
  blocks: BitswapBlocks
  /** streams a peer may open to us at once (default 32) */
  maxInboundStreams?: number
  /** largest message accepted (default 2 MiB + 64 KiB: a 2 MiB block and its envelope) */
  maxIncomingMessageSize?: number
}

const HASHERS = new Map<number, { code: number, digest: (bytes: Uint8Array) => any }>([sha256, sha512, identity].map(h => [h.code, h]))

/** Starts serving bitswap on `libp2p`; stop() unregisters it. */
export function bitswapServer (init: BitswapServerInit): Startable {
  const { libp2p, blocks } = init
  // withBitswap is the package's one export: it hands its block broker to a
  // Helia node as the node starts. This object stands in for that node with
  // what the broker uses: the libp2p node, a logger, a read-only blockstore,
  // and a routing that finds nothing (this side never wants blocks).
  let broker: Startable | undefined
  const host = {
    status: 'starting',
    logger: libp2p.logger as ComponentLogger,
    libp2p,
    blockstore: {
      has: async (cid: CID, options?: AbortOptions) => await blocks.has(cid, options),
      get: async function * (cid: CID, options?: AbortOptions) { yield await blocks.get(cid, options) },
      put: async () => { throw new UnsupportedError('shoal does not take blocks over bitswap') }
    },
    routing: {
      findProviders: async function * () {},
      provide: async () => {},
      cancelReprovide: async () => {}
    },
    getHasher: async (code: number) => {
      const hasher = HASHERS.get(code)
      if (hasher == null) throw new UnsupportedError(`No hasher for multihash code 0x${code.toString(16)}`)
      return hasher
    },
    hasBlockBroker: () => false,
    addBlockBroker: (b: Startable) => { broker = b },
    mixins: [] as Array<{ start: (helia: unknown) => Promise<void> }>,
    addMixin (mixin: { start: (helia: unknown) => Promise<void> }) { this.mixins.push(mixin) }
  }
  withBitswap(host as any, {
    maxInboundStreams: init.maxInboundStreams ?? 32,
    maxIncomingMessageSize: init.maxIncomingMessageSize ?? 2 * 1024 * 1024 + 64 * 1024
  })
  return {
    start: async () => {
      for (const mixin of host.mixins) await mixin.start(host)
      if (broker == null) throw new Error('@helia/bitswap did not start its broker')
    },
    stop: async () => {
      await broker?.stop()
      broker = undefined
    }
  }
}
