/**
 * The composition root of one shoal node: its identity, its libp2p network,
 * and (as later layers land) its stores and services. Its public methods are
 * the API that the RPC layer exposes.
 */
import path from 'node:path'
import type { ConnectionGater, PeerId, Startable } from '@libp2p/interface'
import type { ShoalConfig } from '../config.ts'
import { AbortedError, ListenError } from '../errors.ts'
import { createNetwork, isLoopbackAddress, routingTablePeers } from '../net/libp2p.ts'
import type { ShoalLibp2p } from '../net/libp2p.ts'
import { loadOrCreateIdentity } from '../net/identity.ts'
import { NodeMetrics } from './metrics.ts'
import { bitswapServer } from '../protocols/bitswap.ts'
import { loadSwarmKey } from '../net/swarm-key.ts'
import type { SwarmKey } from '../net/swarm-key.ts'
import { NameService } from '../names/service.ts'
import { NameStore } from '../names/storage.ts'
import type { NameServiceOptions } from '../names/service.ts'
import { DEFAULT_NAME_SYNC_LIMITS, NAME_SYNC_PROTOCOL } from '../protocols/name-sync.ts'
import { systemErrorCode, systemErrorWords } from '../platform/errno.ts'
import { silentLogger } from '../platform/logger.ts'
import { ensureRepoDir } from '../platform/repo.ts'
import type { Logger } from '../platform/logger.ts'
import { BlockFetcher } from '../replication/fetch.ts'
import { Membership } from '../replication/membership.ts'
import { ReplicationPolicy } from '../replication/policy.ts'
import { BlockReplicaService } from '../replication/service.ts'
import type { RepairSettings, RepairStatus } from '../replication/service.ts'
import { blockSessions } from '../replication/sessions.ts'
import type { BlockSessions } from '../replication/sessions.ts'
import { ContentStore } from '../store/content-store.ts'
import { VERSION } from '../version.ts'
import { NodeEvents } from './events.ts'
import type { NodeEvent } from './events.ts'
import { Files } from './files.ts'

export type { NodeEvent } from './events.ts'

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
  /** degraded: running, but a promise to the user cannot be kept now (see `problems`) */
  status: 'ok' | 'degraded' | 'starting' | 'stopping'
  version: string
  uptimeSeconds: number
  peers: number
  /** connected peers that store blocks and names */
  storagePeers: number
  /** the configured k (copies of everything) and write quorum */
  replicas: number
  quorum: number
  routingTable: number
  dhtMode: 'client' | 'server'
  /** why the status is not ok, one sentence each */
  problems: string[]
  /** blocks (and bytes) held here whose range has fewer live copies than k */
  underReplicated: { blocks: number, bytes: number }
  /** repair: a pass running now, and the bytes/s it moves */
  repair: { running: boolean, rateBytesPerSecond: number }
  /** bytes of blocks stored here, against the quota (config storageMax; 0: none) */
  storage: { usedBytes: number, maxBytes: number }
  /** private: only nodes with the same swarm key connect (fingerprint: to compare keys) */
  network: { private: boolean, fingerprint?: string }
}

export interface NodeInit {
  /** the repo: identity.key, packs/ (or blocks/), metadata.db */
  repoDir: string
  config: ShoalConfig
  logger?: Logger
  /** tests may run separate networks side by side with their own DHT protocol */
  dhtProtocol?: string
  /** which connections to refuse (tests partition networks with it) */
  connectionGater?: ConnectionGater
  /** name service settings beyond the config (tests: clocks, timers) */
  names?: NameServiceOptions
  /** repair settings beyond the config (tests: short timers) */
  repair?: Partial<RepairSettings>
  /** the private network's key; default: the repo's swarm.key, if any (null: none) */
  swarmKey?: SwarmKey | null
}

interface Parts {
  libp2p: ShoalLibp2p
  store: ContentStore
  membership: Membership
  sessions: BlockSessions
  replicas: BlockReplicaService
  files: Files
  names: NameService
  config: ShoalConfig
  policy: ReplicationPolicy
  swarmKey?: SwarmKey
  metrics: NodeMetrics
  log: Logger
}

export class ShoalNode {
  readonly libp2p: ShoalLibp2p
  readonly store: ContentStore
  readonly membership: Membership
  /** add, cat, stat, ls, pins, gc */
  readonly files: Files
  /** mutable names: put, get, list, remove, resolve, conflicts */
  readonly names: NameService
  readonly config: ShoalConfig
  /** k, write and read quorum: one policy for blocks and names */
  readonly policy: ReplicationPolicy
  private readonly sessions: BlockSessions
  /** serves blocks, replicates adds, repairs, scrubs */
  readonly replicas: BlockReplicaService
  /** the private network's key, when there is one */
  readonly swarmKey?: SwarmKey
  /** Prometheus metrics: shoal's, libp2p's, the runtime's */
  readonly metrics: NodeMetrics
  /** serves this node's blocks to IPFS nodes (config bitswap) */
  private readonly bitswap?: Startable
  private readonly log: Logger
  private readonly events: NodeEvents
  private startedAt = 0

  private constructor (parts: Parts) {
    this.libp2p = parts.libp2p
    this.store = parts.store
    this.membership = parts.membership
    this.sessions = parts.sessions
    this.replicas = parts.replicas
    this.files = parts.files
    this.names = parts.names
    this.config = parts.config
    this.policy = parts.policy
    this.swarmKey = parts.swarmKey
    this.metrics = parts.metrics
    this.log = parts.log
    if (parts.config.bitswap) {
      const blocks = parts.store.blocks
      this.bitswap = bitswapServer({
        libp2p: parts.libp2p,
        // served as stored: the asker verifies every block (as with shoal's own protocol)
        blocks: { has: async (cid, o) => await blocks.has(cid, o), get: async (cid, o) => await blocks.get(cid, { ...o, verify: false }) }
      })
    }
    this.events = new NodeEvents({
      onMembership: (listener) => this.membership.onChange(listener),
      onRepair: (listener) => this.replicas.onRepair(listener),
      health: () => this.health(),
      logger: parts.log.child('events')
    })
  }

  static async create (init: NodeInit): Promise<ShoalNode> {
    const log = init.logger ?? silentLogger
    await ensureRepoDir(init.repoDir)
    const identityFile = path.join(init.repoDir, 'identity.key')
    const { privateKey, created } = await loadOrCreateIdentity(identityFile)
    if (created) log.info('created a new identity key', { file: identityFile })
    const swarmKey = init.swarmKey === undefined ? await loadSwarmKey(init.repoDir) : init.swarmKey ?? undefined
    const store = await ContentStore.open({
      dir: init.repoDir,
      logger: log.child('store'),
      onCorrupt: (cid, file) => { log.warn('corrupted block quarantined', { cid: cid.toString(), file }) },
      storageMax: init.config.storageMax,
      layout: init.config.blockstore
    })
    const metrics = new NodeMetrics()
    try {
      const libp2p = await createNetwork({
        privateKey,
        listen: init.config.listen,
        bootstrap: init.config.bootstrap,
        mdns: init.config.mdns,
        dhtProtocol: init.dhtProtocol,
        connectionGater: init.connectionGater,
        psk: swarmKey?.psk,
        allowPeers: init.config.allowPeers,
        maxConnections: init.config.maxConnections,
        metricsRegistry: metrics.registry
      })
      const membership = new Membership({ libp2p })
      const policy = new ReplicationPolicy({ k: init.config.replicas, writeQuorum: init.config.quorum })
      const { streamIdleTimeoutMs, sessionIdleTimeoutMs } = init.config
      const sessions = blockSessions(libp2p, { limits: { idleCloseMs: sessionIdleTimeoutMs } })
      const blocks = store.blocks
      const fetcher = new BlockFetcher({
        membership,
        sessions,
        k: policy.k,
        logger: log.child('fetch'),
        local: {
          has: async (cid, o) => await blocks.has(cid, o),
          get: async (cid, o) => await blocks.get(cid, o),
          putFetched: async (cid, bytes, o) => { await blocks.put(cid, bytes, { ...o, verified: true }) }
        }
      })
      const replicas = new BlockReplicaService({
        libp2p,
        store,
        membership,
        sessions,
        policy,
        fetcher,
        repair: {
          graceMs: init.config.repairGraceSeconds * 1000,
          intervalMs: init.config.antiEntropyIntervalSeconds * 1000,
          bytesPerSecond: init.config.repairBytesPerSecond,
          scrubPeriodMs: init.config.scrubPeriodHours * 3600_000,
          ...init.repair
        },
        streamIdleTimeoutMs,
        sessionIdleTimeoutMs,
        logger: log
      })
      const files = new Files({ store, fetcher, replicas, logger: log.child('files') })
      const names = new NameService({
        ...init.names,
        limits: { idleTimeoutMs: streamIdleTimeoutMs, idleCloseMs: sessionIdleTimeoutMs, ...init.names?.limits },
        policy,
        privateKey,
        membership,
        dial: async (peer, protocol, o) => await libp2p.dialProtocol(peer, protocol, o),
        storage: NameStore.open(store.metadata, { now: init.names?.now }),
        owners: init.config.nameOwners,
        statCid: async (cid, o) => {
          const stat = await files.stat(cid, { ...o, replicas: false })
          return stat.mode == null ? { size: stat.size } : { size: stat.size, mode: stat.mode }
        },
        logger: log.child('names')
      })
      const node = new ShoalNode({ libp2p, store, membership, sessions, replicas, files, names, config: init.config, policy, swarmKey, metrics, log })
      metrics.bind({ store, replicas, health: () => node.health(), repairStatus: () => node.repairStatus() })
      return node
    } catch (err) {
      await store.close()
      throw err
    }
  }

  get peerId (): PeerId {
    return this.libp2p.peerId
  }

  async start (): Promise<void> {
    await this.files.clearSpool()
    await this.replicas.start()
    await this.libp2p.handle(NAME_SYNC_PROTOCOL, this.names.handler(), {
      maxInboundStreams: DEFAULT_NAME_SYNC_LIMITS.maxStreamsPerConnection,
      maxOutboundStreams: DEFAULT_NAME_SYNC_LIMITS.maxStreamsPerConnection
    })
    await this.membership.start()
    this.names.start()
    try {
      await this.libp2p.start()
    } catch (err) {
      await this.stop().catch(() => {})
      throw listenError(err)
    }
    if (this.bitswap != null) await this.bitswap.start()
    this.startedAt = Date.now()
    this.log.info('node started', {
      peerId: this.peerId.toString(),
      addresses: this.addresses(),
      network: this.swarmKey == null ? 'public' : `private (swarm key ${this.swarmKey.fingerprint})`
    })
    if (this.swarmKey == null && this.addresses().some(a => !isLoopbackAddress(a))) {
      this.log.warn('this node listens beyond this machine without a swarm key: any node that reaches its p2p port can join, read and store. ' +
        'For a team cluster, run "shoal init --swarm-key" on one node and copy its swarm.key into every repo')
    }
  }

  async stop (): Promise<void> {
    this.events.stop()
    await this.bitswap?.stop()
    await this.replicas.stop()
    await this.names.stop()
    await this.files.flush()
    await this.sessions.closeAll()
    this.membership.stop()
    await this.libp2p.stop()
    await this.store.close()
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
    const { k, writeQuorum } = this.policy
    const storagePeers = this.membership.peers().length
    const problems: string[] = []
    if (storagePeers + 1 < k) {
      problems.push(`only ${storagePeers + 1} of the ${k} replicas of each block and name can be placed (${storagePeers} storage peer${storagePeers === 1 ? '' : 's'} connected)` +
        (storagePeers + 1 < writeQuorum ? `: writes, which need ${writeQuorum} confirmed copies, fail` : ': new data has fewer copies than configured'))
    }
    const repair = this.replicas.status()
    const under = repair.underReplicated
    if (under.blocks > 0 && storagePeers + 1 >= k) {
      problems.push(`${under.blocks} blocks (${under.bytes} bytes) held here have fewer than ${k} live copies: ` +
        (repair.departed.length > 0 ? `${repair.departed.length} storage peer${repair.departed.length === 1 ? '' : 's'} left; repair copies them after the grace period` : 'repair is copying them'))
    }
    const storage = this.store.usage()
    if (storage.maxBytes > 0 && storage.usedBytes >= storage.maxBytes * 0.95) {
      problems.push(`storage nearly full: ${storage.usedBytes} of ${storage.maxBytes} bytes used (config "storageMax"); this node refuses new blocks beyond it, and adds and other nodes' writes go elsewhere`)
    }
    const running = this.libp2p.status === 'started' ? (problems.length > 0 ? 'degraded' : 'ok') : undefined
    return {
      status: running ?? (this.libp2p.status === 'stopping' ? 'stopping' : 'starting'),
      version: VERSION,
      uptimeSeconds: this.startedAt === 0 ? 0 : Math.round((Date.now() - this.startedAt) / 1000),
      peers: this.peers().length,
      storagePeers,
      replicas: k,
      quorum: writeQuorum,
      routingTable: this.routingTable().length,
      dhtMode: this.libp2p.services.dht.getMode(),
      problems,
      underReplicated: { blocks: under.blocks, bytes: under.bytes },
      repair: { running: repair.running, rateBytesPerSecond: repair.rateBytesPerSecond },
      storage,
      network: this.swarmKey == null ? { private: false } : { private: true, fingerprint: this.swarmKey.fingerprint }
    }
  }

  /**
   * Calls `listener` with what happens to this node from now on: storage
   * peers joining and leaving, health changes (polled once a second while
   * watched), repair passes starting and ending (node/events.ts). Returns
   * the function that stops it.
   */
  watch (listener: (event: NodeEvent) => void): () => void {
    return this.events.watch(listener)
  }

  /** What repair is doing, what it did, what is under-replicated, and scrub. */
  repairStatus (): RepairStatus {
    return this.replicas.status()
  }

  /** Start a repair pass now (or right after the one in progress). */
  runRepair (): { started: boolean } {
    if (this.replicas.status().running) return { started: false }
    this.replicas.triggerRepair()
    return { started: true }
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

/**
 * libp2p's "Some configured addresses failed to be listened on ..." (with
 * advice about its own options) as one line per address in shoal's words.
 */
function listenError (err: unknown): unknown {
  const message = (err as Error)?.message ?? ''
  if ((err as Error)?.name !== 'UnsupportedListenAddressesError') return err
  const failures = [...message.matchAll(/^\s+(\/\S+): (.*)$/gm)].map(([, addr, why]) => {
    const words = systemErrorWords(systemErrorCode(why)) ?? (/No transport/.test(why) ? 'shoal listens on TCP only' : 'it cannot be listened on')
    return `${addr} (${words})`
  })
  return new ListenError(`Cannot listen on ${failures.length > 0 ? failures.join(', ') : 'the configured p2p addresses'}: change --listen or "listen" in config.json`, { cause: err })
}
