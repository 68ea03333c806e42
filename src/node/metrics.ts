/**
 * A node's metrics in Prometheus's text format: shoal's own (storage, copies
 * of what it holds, peers, health, repair, scrub, GC, RPC requests) beside
 * libp2p's (bytes in and out per protocol, connections, the DHT) and the
 * runtime's (CPU, memory, event loop, GC), all in one registry per node.
 * Values are read from the node when scraped; only request timings are
 * observed as they happen.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { ContentStore } from '../store/content-store.ts'
import type { BlockReplicaService, RepairStatus } from '../replication/service.ts'

/** What of the node's health the metrics show (NodeHealth has it). */
export interface HealthReading {
  status: string
  peers: number
  storagePeers: number
  replicas: number
  underReplicated: { blocks: number, bytes: number }
}

export interface MetricsSource {
  store: ContentStore
  replicas: Pick<BlockReplicaService, 'liveCopies'>
  health: () => HealthReading
  repairStatus: () => RepairStatus
}

export type RequestOutcome = 'ok' | 'error'

export class NodeMetrics {
  /** libp2p's metrics go here too (net/libp2p.ts) */
  readonly registry = new Registry()
  readonly #requests: Histogram<'method' | 'outcome'>
  readonly #refresh: Array<() => void | Promise<void>> = []
  #source?: MetricsSource

  constructor () {
    const r = this.registry
    this.#requests = new Histogram({
      name: 'shoal_rpc_request_duration_seconds',
      help: 'RPC methods and byte routes: how long each request took, by method and outcome',
      labelNames: ['method', 'outcome'],
      buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10, 60],
      registers: [r]
    })
    const gauge = <L extends string>(name: string, help: string, labelNames: L[] = []): Gauge<L> => new Gauge({ name, help, labelNames, registers: [r] })
    /** a cumulative count kept elsewhere (the store's stats, repair's totals), shown as a counter */
    const total = (name: string, help: string): Counter & { show: (n: number) => void } => {
      const c = new Counter({ name, help, registers: [r] })
      return Object.assign(c, { show: (n: number) => { c.reset(); c.inc(n) } })
    }

    const blocks = gauge('shoal_blocks', 'blocks stored on this node')
    const bytes = gauge('shoal_stored_bytes', 'bytes of blocks stored on this node')
    const cache = gauge('shoal_cache_bytes', 'bytes stored that no pin covers and that are not held for the network (GC reclaims them)')
    const pins = gauge('shoal_pins', 'pins')
    const quota = gauge('shoal_storage_max_bytes', 'the storage quota (config storageMax; 0: none)')
    const free = gauge('shoal_disk_free_bytes', 'space left for shoal on the filesystem of the repo')
    const gcRuns = total('shoal_gc_runs_total', 'garbage collections run')
    const gcFreed = total('shoal_gc_freed_bytes_total', 'bytes freed by garbage collection')
    this.#refresh.push(async () => {
      const { store } = this.source
      const s = await store.stat()
      blocks.set(s.blocks)
      bytes.set(s.bytes)
      cache.set(s.cacheBytes)
      pins.set(s.pins)
      quota.set(s.maxBytes)
      free.set(s.freeBytes)
      gcRuns.show(store.metadata.stat('gc_runs'))
      gcFreed.show(store.metadata.stat('gc_freed_bytes'))
    })

    const heldBlocks = gauge('shoal_blocks_by_live_copies', 'blocks stored here in the ranges this node is placed for, by the live copies of their range (below k: under-replicated)', ['copies'])
    const heldBytes = gauge('shoal_bytes_by_live_copies', 'bytes of those blocks, by the live copies of their range', ['copies'])
    const under = gauge('shoal_under_replicated_blocks', 'blocks held here whose range has fewer live copies than k')
    const underBytes = gauge('shoal_under_replicated_bytes', 'bytes of those blocks')
    const peers = gauge('shoal_peers', 'connected peers')
    const storagePeers = gauge('shoal_storage_peers', 'connected peers that store blocks and names')
    const status = gauge('shoal_health_status', '1 for the node\'s health status now (ok, degraded, starting, stopping)', ['status'])
    const replicas = gauge('shoal_replicas', 'the configured copies of everything (k)')
    this.#refresh.push(() => {
      const health = this.source.health()
      peers.set(health.peers)
      storagePeers.set(health.storagePeers)
      replicas.set(health.replicas)
      for (const s of ['ok', 'degraded', 'starting', 'stopping']) status.set({ status: s }, s === health.status ? 1 : 0)
      heldBlocks.reset()
      heldBytes.reset()
      for (const c of this.source.replicas.liveCopies()) {
        heldBlocks.set({ copies: String(c.copies) }, c.blocks)
        heldBytes.set({ copies: String(c.copies) }, c.bytes)
      }
      under.set(health.underReplicated.blocks)
      underBytes.set(health.underReplicated.bytes)
    })

    const passes = total('shoal_repair_passes_total', 'repair passes run')
    const moved = gauge('shoal_repair_moved_blocks', 'blocks moved by repair since start, by how (pushed, pulled, handed off)', ['how'])
    const movedBytes = gauge('shoal_repair_moved_bytes', 'bytes moved by repair since start, by how', ['how'])
    const running = gauge('shoal_repair_running', '1 while a repair pass runs')
    const scrubbed = total('shoal_scrub_checked_blocks_total', 'blocks re-verified by scrub')
    const corrupt = total('shoal_scrub_corrupt_blocks_total', 'corrupt copies scrub found (quarantined and refetched)')
    this.#refresh.push(() => {
      const s = this.source.repairStatus()
      passes.show(s.totals.passes)
      running.set(s.running ? 1 : 0)
      for (const how of ['pushed', 'pulled', 'handedOff'] as const) {
        moved.set({ how }, s.totals[how].blocks)
        movedBytes.set({ how }, s.totals[how].bytes)
      }
      scrubbed.show(s.scrub.checkedBlocks)
      corrupt.show(s.scrub.corrupt)
    })
  }

  /** What the scrape reads (the node's parts, once they exist). */
  bind (source: MetricsSource): void {
    this.#source = source
  }

  private get source (): MetricsSource {
    if (this.#source == null) throw new Error('NodeMetrics read before bind()')
    return this.#source
  }

  /** One request to the RPC port: `method` is the JSON-RPC method or the byte route's name. */
  observeRequest (method: string, seconds: number, outcome: RequestOutcome): void {
    this.#requests.observe({ method, outcome }, seconds)
  }

  /** Every metric now, in Prometheus's text format. */
  async text (): Promise<string> {
    for (const refresh of this.#refresh) await refresh()
    return await this.registry.metrics()
  }

  get contentType (): string {
    return this.registry.contentType
  }
}
