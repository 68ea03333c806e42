/**
 * The composition root of one shoal node: its identity, its libp2p network,
 * and (as later layers land) its stores and services. Its public methods are
 * the API that the RPC layer exposes.
 */
import type { PeerId } from '@libp2p/interface'
import type { ShoalConfig } from '../config.ts'
import { createNetwork, routingTablePeers } from '../net/libp2p.ts'
import type { ShoalLibp2p } from '../net/libp2p.ts'
import { loadOrCreateIdentity } from '../net/identity.ts'
import { silentLogger } from '../platform/logger.ts'
import type { Logger } from '../platform/logger.ts'
import { VERSION } from '../version.ts'
import { AbortedError } from '../errors.ts'

export interface NodeInfo {
  peerId: string
  addresses: string[]
  version: string
  protocols: string[]
}

export interface PeerSummary {
  peerId: string
  addresses: string[]
  direction: 'inbound' | 'outbound'
  /** milliseconds, from the last ping of this connection, when known */
  rttMs?: number
}

export interface NodeHealth {
  status: 'ok' | 'starting' | 'stopping'
  version: string
  uptimeSeconds: number
  peers: number
  routingTable: number
  dhtMode: 'client' | 'server'
}

export interface NodeInit {
  /** path of the identity key file */
  identityFile: string
  config: ShoalConfig
  logger?: Logger
  /** tests may run separate networks side by side with their own DHT protocol */
  dhtProtocol?: string
}

export class ShoalNode {
  readonly libp2p: ShoalLibp2p
  private readonly log: Logger
  private startedAt = 0

  private constructor (libp2p: ShoalLibp2p, log: Logger) {
    this.libp2p = libp2p
    this.log = log
  }

  static async create (init: NodeInit): Promise<ShoalNode> {
    const log = init.logger ?? silentLogger
    const { privateKey, created } = await loadOrCreateIdentity(init.identityFile)
    if (created) log.info('created a new identity key', { file: init.identityFile })
    const libp2p = await createNetwork({
      privateKey,
      listen: init.config.listen,
      bootstrap: init.config.bootstrap,
      mdns: init.config.mdns,
      dhtProtocol: init.dhtProtocol
    })
    return new ShoalNode(libp2p, log)
  }

  get peerId (): PeerId {
    return this.libp2p.peerId
  }

  async start (): Promise<void> {
    await this.libp2p.start()
    this.startedAt = Date.now()
    this.log.info('node started', { peerId: this.peerId.toString(), addresses: this.addresses() })
  }

  async stop (): Promise<void> {
    await this.libp2p.stop()
    this.log.info('node stopped')
  }

  addresses (): string[] {
    return this.libp2p.getMultiaddrs().map(a => a.toString())
  }

  id (): NodeInfo {
    return {
      peerId: this.peerId.toString(),
      addresses: this.addresses(),
      version: VERSION,
      protocols: this.libp2p.getProtocols()
    }
  }

  peers (): PeerSummary[] {
    const byPeer = new Map<string, PeerSummary>()
    for (const conn of this.libp2p.getConnections()) {
      if (conn.status !== 'open') continue
      const key = conn.remotePeer.toString()
      const summary = byPeer.get(key) ?? { peerId: key, addresses: [], direction: conn.direction }
      summary.addresses.push(conn.remoteAddr.toString())
      if (conn.rtt != null) summary.rttMs = conn.rtt
      byPeer.set(key, summary)
    }
    return [...byPeer.values()].sort((a, b) => a.peerId.localeCompare(b.peerId))
  }

  health (): NodeHealth {
    const status = this.libp2p.status === 'started' ? 'ok' : this.libp2p.status === 'stopping' ? 'stopping' : 'starting'
    return {
      status,
      version: VERSION,
      uptimeSeconds: this.startedAt === 0 ? 0 : Math.round((Date.now() - this.startedAt) / 1000),
      peers: this.peers().length,
      routingTable: this.routingTable().length,
      dhtMode: this.libp2p.services.dht.getMode()
    }
  }

  /** Peer ids in the DHT routing table. */
  routingTable (): string[] {
    return routingTablePeers(this.libp2p).map(p => p.toString())
  }

  /** The peers closest to `key` in the Kademlia keyspace, found by a DHT lookup. */
  async closestPeers (key: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<string[]> {
    const found = new Set<string>()
    for await (const event of this.libp2p.services.dht.getClosestPeers(key, { signal: options.signal })) {
      if (options.signal?.aborted === true) throw new AbortedError('The closest-peers lookup was aborted')
      if (event.name === 'FINAL_PEER') found.add(event.peer.id.toString())
    }
    return [...found]
  }
}
