/**
 * Assembles the libp2p node: TCP, Noise, yamux, identify, ping, kad-dht on
 * shoal's own protocol (server mode, private and loopback addresses kept),
 * bootstrap peers and mDNS; with a swarm key, libp2p's private-network
 * protector (nodes without the key cannot complete a connection), and with
 * an allow-list, a connection gater that refuses every other peer id.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bootstrap } from '@libp2p/bootstrap'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import type { KadDHT } from '@libp2p/kad-dht'
import { mdns } from '@libp2p/mdns'
import { preSharedKey } from '@libp2p/pnet'
import { ping } from '@libp2p/ping'
import type { Ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import type { Identify } from '@libp2p/identify'
import type { Libp2p, PeerDiscovery, PeerId, PrivateKey, ComponentLogger, ConnectionGater } from '@libp2p/interface'
import { createLibp2p } from 'libp2p'
import type { Registry } from 'prom-client'
import { DHT_PROTOCOL } from '../config.ts'
import { noiseCrypto } from './noise-crypto.ts'
import { trafficMetrics } from './traffic.ts'

export interface ShoalServices {
  identify: Identify
  ping: Ping
  dht: KadDHT
  [key: string]: unknown
}

export type ShoalLibp2p = Libp2p<ShoalServices>

export interface NetworkInit {
  privateKey: PrivateKey
  listen: string[]
  bootstrap?: string[]
  mdns?: boolean
  /** DHT protocol id; tests may isolate networks with their own */
  dhtProtocol?: string
  /** stop dialling discovered peers once this many are connected */
  maxAutoDialPeers?: number
  logger?: ComponentLogger
  /** which connections to refuse (tests partition networks with it) */
  connectionGater?: ConnectionGater
  /** a private network's key (swarm-key.ts): only nodes with it connect */
  psk?: Uint8Array
  /** peer ids allowed to connect, each way (empty or absent: any) */
  allowPeers?: string[]
  /** most connections at once (libp2p's connection manager) */
  maxConnections?: number
  /** where the bytes in and out per protocol are counted */
  metricsRegistry?: Registry
}

export async function createNetwork (init: NetworkInit): Promise<ShoalLibp2p> {
  const peerDiscovery: Array<(components: any) => PeerDiscovery> = []
  if ((init.bootstrap ?? []).length > 0) peerDiscovery.push(bootstrap({ list: init.bootstrap ?? [], timeout: 100 }))
  if (init.mdns === true) peerDiscovery.push(mdns())

  const node = await createLibp2p({
    privateKey: init.privateKey,
    addresses: { listen: init.listen },
    transports: [tcp()],
    connectionEncrypters: [noise({ crypto: noiseCrypto })],
    // the initial window stays yamux's 256 KiB: js-yamux assumes the peer's is what we set
    // here, so a larger one overruns the window of any other yamux (Helia, Kubo), which then
    // resets the stream; windows still grow by updates up to the maximum
    streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: 16 * 1024 * 1024 } })],
    peerDiscovery,
    ...(init.psk != null ? { connectionProtector: preSharedKey({ psk: init.psk }) } : {}),
    connectionManager: {
      // the default (5 inbound connections per second per host) stalls a cluster
      // of daemons behind one address, or many on one box
      inboundConnectionThreshold: 100,
      maxConnections: init.maxConnections ?? 300,
      // connections still in their handshake (a peer that stalls one holds a socket)
      maxIncomingPendingConnections: 32
    },
    logger: init.logger,
    ...(init.metricsRegistry != null
      ? { metrics: trafficMetrics(init.metricsRegistry) }
      : {}),
    connectionGater: gater(init.connectionGater, init.allowPeers),
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: init.dhtProtocol ?? DHT_PROTOCOL,
        clientMode: false,
        peerInfoMapper: passthroughMapper,
        initialQuerySelfInterval: 500
      })
    },
    start: false
  })
  keepDiscoveredPeersConnected(node, init.maxAutoDialPeers ?? 64)
  return node
}

/** The tests' gater (if any), and the allow-list: every other peer is refused before any protocol runs. */
function gater (base: ConnectionGater | undefined, allowPeers: string[] | undefined): ConnectionGater | undefined {
  if (allowPeers == null || allowPeers.length === 0) return base
  const allowed = new Set(allowPeers)
  const refused = (peer: PeerId): boolean => !allowed.has(peer.toString())
  return {
    ...base,
    denyDialPeer: async (peer) => refused(peer) || (await base?.denyDialPeer?.(peer) ?? false),
    denyInboundEncryptedConnection: async (peer, conn) => refused(peer) || (await base?.denyInboundEncryptedConnection?.(peer, conn) ?? false),
    denyOutboundEncryptedConnection: async (peer, conn) => refused(peer) || (await base?.denyOutboundEncryptedConnection?.(peer, conn) ?? false)
  }
}

/**
 * libp2p v3 does not dial what discovery finds (mDNS, the DHT). shoal wants
 * its neighbours connected, so dial each newly discovered peer while there
 * are fewer than `max` connections.
 */
function keepDiscoveredPeersConnected (node: ShoalLibp2p, max: number): void {
  node.addEventListener('peer:discovery', (evt) => {
    const { id } = evt.detail
    if (node.status !== 'started' || id.equals(node.peerId)) return
    if (node.getConnections(id).length > 0 || node.getConnections().length >= max) return
    node.dial(id, { signal: AbortSignal.timeout(10_000) }).catch(() => {
      // unreachable peers are normal; the DHT forgets them on its own
    })
  })
}

/** A multiaddr only this machine can reach (a node listening only there needs no swarm key). */
export function isLoopbackAddress (address: string): boolean {
  return /^\/ip4\/127\.\d+\.\d+\.\d+\//.test(address) || address.startsWith('/ip6/::1/')
}

/** The peers in the DHT routing table (kad-dht's implementation exposes it). */
export function routingTablePeers (node: ShoalLibp2p): PeerId[] {
  const table = (node.services.dht as unknown as { routingTable?: { kb?: { toIterable(): Iterable<{ peerId: PeerId }> } } }).routingTable
  return [...(table?.kb?.toIterable() ?? [])].map(c => c.peerId)
}
