/**
 * (f) Lookup cost on a 30-node shoal network: median hops, messages and time
 * to find the k closest peers of a random key. The nodes run in ONE process
 * (see bench/workers/dht-network.ts); shoal's own node code, not the daemon.
 */
import path from 'node:path'
import { summarize } from '../lib/stats.ts'
import { Worker } from '../lib/worker.ts'
import type { Measurement } from '../lib/runner.ts'

export const LOOKUP_NODES = 30
/** shoal's replica count and kad-dht's bucket size */
const KS = [3, 20]

export const shoalLookup: Measurement = {
  id: 'shoal-lookup',
  title: `Lookup on a ${LOOKUP_NODES}-node shoal network`,
  system: 'shoal',
  group: 'lookup',
  repeat: 'once',
  metrics: [
    { name: 'hopsMedian', label: 'hops, median', unit: '', digits: 1 },
    { name: 'hopsMax', label: 'hops, max', unit: '', digits: 0 },
    { name: 'msMedian', label: 'time, median', unit: 'ms', digits: 1 },
    { name: 'msP90', label: 'time, p90', unit: 'ms', digits: 1 },
    { name: 'queriesMedian', label: 'FIND_NODE messages, median', unit: '', digits: 0 },
    { name: 'recall3', label: 'true 3 closest found', unit: '%', digits: 0 },
    { name: 'recall20', label: 'true 20 closest found', unit: '%', digits: 0 },
    { name: 'lookups', label: 'lookups', unit: '', digits: 0 },
    { name: 'routingTableMedian', label: 'routing table size, median', unit: '', digits: 0 },
    { name: 'settleSeconds', label: 'start + settle time', unit: 's', digits: 1 }
  ],
  description: `${LOOKUP_NODES} shoal nodes (src/node ShoalNode: TCP + Noise + yamux + kad-dht on /shoal/kad/1.0.0, server mode) started in ONE process, each bootstrapping from the first, at under 5 a second (libp2p refuses more than 5 inbound connections a second from one host, and all of them are 127.0.0.1); once the routing tables hold at least 20 peers each (self-lookups one node at a time, as kad-dht does at start, until they do), lookups of random keys (kad-dht getClosestPeers) from every node in turn. Hops: the longest chain of FIND_NODE requests, a peer learned from a response being one hop further than the peer that named it (peers in the asking node's routing table when the lookup starts are hop 1). Recall: the share of the true k closest peers (by XOR distance, over all ${LOOKUP_NODES} nodes but the asking one) among the peers the lookup returned. One process for ${LOOKUP_NODES} nodes on a 2-core machine: times include their contention for one event loop.`,
  timeoutMs: () => 240_000,
  async run (ctx) {
    const worker = await Worker.start(ctx.scope, path.join(ctx.root, 'bench/workers/dht-network.ts'), 'dht network')
    try {
      const started = await worker.call<{ seconds: number }>('start', { dir: await ctx.newDir('lookup'), count: LOOKUP_NODES }, 120_000)
      const settled = await worker.call<{ seconds: number, rounds: number, min: number, median: number, max: number }>('settle', { min: Math.min(20, LOOKUP_NODES - 1), timeoutMs: 60_000 }, 80_000)
      ctx.log(`started in ${started.seconds.toFixed(1)} s; routing tables ${settled.min}/${settled.median}/${settled.max} (min/median/max) after ${settled.seconds.toFixed(1)} s more (${settled.rounds} rounds of self-lookups)`)
      const count = ctx.quick ? 30 : 150
      const runs = await worker.call<Array<{ ms: number, hops: number, queries: number, recall: Record<string, number> }>>('lookups', { count, ks: KS, timeoutMs: 20_000 }, 150_000)
      const hops = summarize(runs.map(r => r.hops))
      const ms = runs.map(r => r.ms).sort((a, b) => a - b)
      const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
      return {
        metrics: {
          hopsMedian: hops?.median ?? NaN,
          hopsMax: hops?.max ?? NaN,
          msMedian: summarize(ms)?.median ?? NaN,
          msP90: ms[Math.min(ms.length - 1, Math.floor(ms.length * 0.9))],
          queriesMedian: summarize(runs.map(r => r.queries))?.median ?? NaN,
          recall3: 100 * mean(runs.map(r => r.recall['3'])),
          recall20: 100 * mean(runs.map(r => r.recall['20'])),
          lookups: runs.length,
          routingTableMedian: settled.median,
          settleSeconds: started.seconds + settled.seconds
        },
        info: { nodes: LOOKUP_NODES, oneProcess: true }
      }
    } finally {
      await worker.stop(20_000)
    }
  }
}
