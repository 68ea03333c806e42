/**
 * Worker: a shoal network of N nodes (src/node ShoalNode: libp2p TCP + Noise +
 * yamux + kad-dht on /shoal/kad/1.0.0) in THIS one process, each knowing only
 * the first node at start; then Kademlia lookups of random keys, with the
 * hops and messages read from kad-dht's query events.
 *
 * N daemons would each need a Node process (~100 MB each) on a 2-core box, so
 * the nodes share one process: lookup times include their contention for
 * one event loop, which makes them an upper bound.
 */
import { createHash } from 'node:crypto'
import path from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { DEFAULT_CONFIG } from '../../src/config.ts'
import { ShoalNode } from '../../src/node/node.ts'
import { serve } from './ipc.ts'

let nodes: ShoalNode[] = []
const RATE_GAP_MS = 250

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** Wait for the bootstrap connection to `to`; dial it ourselves if it was refused (the bootstrap module does not retry). */
async function connect (from: ShoalNode, to: ShoalNode, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let lastError = 'no connection'
  for (let attempt = 0; ; attempt++) {
    if (from.libp2p.getConnections(to.peerId).length > 0) return
    if (Date.now() > deadline) throw new Error(`node ${from.peerId} cannot connect to ${to.peerId}: ${lastError}`)
    if (attempt >= 8) {
      try {
        await from.libp2p.dial(multiaddr(to.addresses()[0]), { signal: AbortSignal.timeout(5000) })
      } catch (err) {
        lastError = (err as Error).message
      }
    }
    await sleep(RATE_GAP_MS / 2)
  }
}

const sha256 = (bytes: Uint8Array): Buffer => createHash('sha256').update(bytes).digest()

/** XOR distance of two 32-byte ids, as a big-endian hex string that sorts like the number. */
function distance (a: Uint8Array, b: Uint8Array): string {
  const out = Buffer.alloc(a.length)
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i]
  return out.toString('hex')
}

function routingTableSizes (): number[] {
  return nodes.map(n => n.routingTable().length).sort((a, b) => a - b)
}

serve({
  async start ({ dir, count }: { dir: string, count: number }) {
    const begin = performance.now()
    for (let i = 0; i < count; i++) {
      const bootstrap = i === 0 ? [] : [nodes[0].addresses()[0]]
      const node = await ShoalNode.create({
        repoDir: path.join(dir, `node-${i}`),
        config: { ...DEFAULT_CONFIG, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap }
      })
      nodes.push(node)
      await node.start()
      if (i > 0) await connect(node, nodes[0], 15_000)
      // libp2p refuses more than 5 inbound connections per second from one
      // host, and every node here is 127.0.0.1: start them at under 5 per second
      await sleep(RATE_GAP_MS)
    }
    return { seconds: (performance.now() - begin) / 1000 }
  },

  /**
   * Let the routing tables fill: what kad-dht does on its own (a lookup of
   * the node's own id, then every 5 minutes), one node at a time so that no
   * node receives over 5 connections a second, until every table holds at
   * least `min` peers or the deadline passes.
   */
  async settle ({ min, timeoutMs }: { min: number, timeoutMs: number }) {
    const begin = performance.now()
    let rounds = 0
    while (performance.now() - begin < timeoutMs && routingTableSizes()[0] < min) {
      rounds++
      for (const node of nodes) {
        if (performance.now() - begin > timeoutMs) break
        if (node.routingTable().length >= min) continue
        try {
          for await (const _ of node.libp2p.services.dht.getClosestPeers(node.peerId.toMultihash().bytes, { signal: AbortSignal.timeout(10_000) })) {}
        } catch {}
        await sleep(RATE_GAP_MS)
      }
    }
    const sizes = routingTableSizes()
    return { seconds: (performance.now() - begin) / 1000, rounds, min: sizes[0], median: sizes[Math.floor(sizes.length / 2)], max: sizes[sizes.length - 1] }
  },

  /** `count` lookups of random keys from nodes in turn: time, hops, messages, and recall of the true closest. */
  async lookups ({ count, ks, timeoutMs }: { count: number, ks: number[], timeoutMs: number }) {
    const kadIds = new Map(nodes.map(n => [n.peerId.toString(), sha256(n.peerId.toMultihash().bytes)]))
    const out: Array<{ ms: number, hops: number, queries: number, found: number, recall: Record<number, number> }> = []
    for (let i = 0; i < count; i++) {
      const node = nodes[i % nodes.length]
      const self = node.peerId.toString()
      const key = sha256(Buffer.from(`lookup-${i}`))
      const target = sha256(key)
      // peers in the routing table are known before the lookup: asking one of them is hop 1
      const depth = new Map<string, number>(node.routingTable().map(id => [id, 1]))
      let queries = 0
      let hops = 0
      const found: string[] = []
      const begin = performance.now()
      for await (const event of node.libp2p.services.dht.getClosestPeers(key, { signal: AbortSignal.timeout(timeoutMs) })) {
        if (event.name === 'SEND_QUERY') {
          queries++
          const to = event.to.toString()
          if (!depth.has(to)) depth.set(to, 1)
        } else if (event.name === 'PEER_RESPONSE') {
          const d = depth.get(event.from.toString()) ?? 1
          hops = Math.max(hops, d)
          for (const closer of event.closer) {
            const id = closer.id.toString()
            if (!depth.has(id)) depth.set(id, d + 1)
          }
        } else if (event.name === 'FINAL_PEER') {
          found.push(event.peer.id.toString())
        }
      }
      const ms = performance.now() - begin
      const truth = [...kadIds.entries()]
        .filter(([id]) => id !== self)
        .sort((a, b) => distance(a[1], target) < distance(b[1], target) ? -1 : 1)
        .map(([id]) => id)
      // the true k closest are all among what the lookup returned (it returns up to kad-dht's K = 20, by distance)
      const got = new Set(found)
      const recall: Record<number, number> = {}
      for (const k of ks) {
        const want = truth.slice(0, k)
        recall[k] = want.filter(id => got.has(id)).length / want.length
      }
      out.push({ ms, hops, queries, found: found.length, recall })
    }
    return out
  }
}, async () => {
  await Promise.allSettled(nodes.map(async n => { await n.stop() }))
  nodes = []
})
