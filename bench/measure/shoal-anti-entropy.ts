/**
 * What anti-entropy costs on the wire: two shoal nodes (libp2p on
 * 127.0.0.1, in this process) each holding the same 1 million blocks (index
 * rows only: range summaries read the kad index, never the block bytes),
 * compared over the ranges they share in a 6-node view with k = 3. Bytes of
 * /shoal/ranges/1.0.0 frames, both ways: one round when in sync, and the
 * walk that finds a given number of differences (blocks missing on one side
 * or the other), which is what a repair then copies.
 */
import { createHash } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createNetwork } from '../../src/net/libp2p.ts'
import type { ShoalLibp2p } from '../../src/net/libp2p.ts'
import { RANGE_SYNC_PROTOCOL, RangeSession, rangeSyncHandler } from '../../src/protocols/range-sync.ts'
import { differences, storeRanges } from '../../src/replication/anti-entropy.ts'
import { inRange, responsibilityRanges } from '../../src/replication/ranges.ts'
import { kadOf, Metadata } from '../../src/store/metadata.ts'
import type { Measurement } from '../lib/runner.ts'

const DIFFS = [10, 100, 1000]

function multihash (i: number): Uint8Array {
  return Uint8Array.from([0x12, 0x20, ...createHash('sha256').update(`block ${i}`).digest()])
}

export const shoalAntiEntropy: Measurement = {
  id: 'shoal-anti-entropy',
  title: 'Anti-entropy cost (shoal)',
  system: 'shoal',
  group: 'repair',
  repeat: 'once',
  metrics: [
    { name: 'blocks', label: 'blocks held by each node', unit: '', digits: 0 },
    { name: 'ranges', label: 'ranges the two share (6 nodes, k = 3)', unit: '', digits: 0 },
    { name: 'inSyncBytes', label: 'bytes per round when in sync', unit: 'B', digits: 0 },
    ...DIFFS.map(d => ({ name: `bytes${d}`, label: `bytes to find ${d} differences`, unit: 'B', digits: 0 })),
    { name: 'bytesPerDiff', label: `bytes per difference, at ${DIFFS[DIFFS.length - 1]}`, unit: 'B', digits: 0 },
    { name: 'inSyncMs', label: 'time of an in-sync round (both sides summarise their share)', unit: 'ms', digits: 0 }
  ],
  description: 'Two nodes (src/ code, one process, real libp2p streams with Noise and yamux on 127.0.0.1) each with the same block index rows in SQLite; the ranges they share in a 6-node view (4 other peer ids) with k = 3. An in-sync round is one digest request and its answer. For each difference count, that many blocks (in shared ranges) are removed on each side in turn (half from each), the walk (summaries of 16 sub-ranges where they differ, then key lists of small ranges) is run and its frame bytes counted, and the blocks are put back. The block transfers that follow are not counted: they are the difference itself.',
  timeoutMs: () => 600_000,
  async run (ctx) {
    const count = ctx.quick ? 100_000 : 1_000_000
    const nodes: ShoalLibp2p[] = []
    const metas = [Metadata.open(':memory:'), Metadata.open(':memory:')]
    try {
      const rows: Array<{ mh: Uint8Array, size: number }> = []
      for (let i = 0; i < count; i++) {
        rows.push({ mh: multihash(i), size: 262_144 })
        if (rows.length === 20_000 || i === count - 1) {
          for (const m of metas) m.addBlocks(rows)
          rows.length = 0
        }
      }
      ctx.log(`indexed ${count} blocks on each side`)
      // (the nodes start after the indexing, which holds the event loop for a while)
      for (let i = 0; i < 2; i++) {
        const node = await createNetwork({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
        await node.start()
        nodes.push(node)
      }
      const [a, b] = nodes
      await b.dial(a.getMultiaddrs()[0])
      // four other members, drawn until the two nodes are neighbours (share a range)
      let shared: ReturnType<typeof responsibilityRanges> = []
      for (let tries = 0; shared.length === 0; tries++) {
        if (tries === 100) throw new Error('no 6-node view found in which the two nodes share a range')
        const others = await Promise.all(Array.from({ length: 4 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
        shared = responsibilityRanges([a.peerId, b.peerId, ...others], 3)
          .filter(r => r.replicas.includes(a.peerId.toString()) && r.replicas.includes(b.peerId.toString()))
      }
      await a.handle(RANGE_SYNC_PROTOCOL, rangeSyncHandler({ store: storeRanges(metas[0]) }))
      const session = new RangeSession(await b.dialProtocol(a.peerId, RANGE_SYNC_PROTOCOL), a.peerId)
      const local = storeRanges(metas[1])
      const round = async (): Promise<{ bytes: number, found: number, ms: number }> => {
        const before = session.traffic
        const started = performance.now()
        let found = 0
        for await (const d of differences(shared, local, session, { kadOf })) found += d.missingHere.length + d.missingThere.length
        const after = session.traffic
        return { bytes: after.read + after.written - before.read - before.written, found, ms: performance.now() - started }
      }
      const inSync = await round()
      if (inSync.found !== 0) throw new Error(`the two sides differ before any change: ${inSync.found}`)
      const metrics: Record<string, number> = { blocks: count, ranges: shared.length, inSyncBytes: inSync.bytes, inSyncMs: inSync.ms }
      // blocks in the shared ranges, to take away
      const candidates: Uint8Array[] = []
      for (let i = 0; candidates.length < 2 * DIFFS[DIFFS.length - 1] && i < count; i++) {
        const mh = multihash(i)
        if (shared.some(r => inRange(kadOf(mh), r))) candidates.push(mh)
      }
      for (const d of DIFFS) {
        const fromA = candidates.slice(0, d / 2)
        const fromB = candidates.slice(d / 2, d)
        metas[0].removeBlocks(fromA)
        metas[1].removeBlocks(fromB)
        const r = await round()
        if (r.found !== d) throw new Error(`found ${r.found} of ${d} differences`)
        metrics[`bytes${d}`] = r.bytes
        metas[0].addBlocks(fromA.map(mh => ({ mh, size: 262_144 })))
        metas[1].addBlocks(fromB.map(mh => ({ mh, size: 262_144 })))
      }
      metrics.bytesPerDiff = metrics[`bytes${DIFFS[DIFFS.length - 1]}`] / DIFFS[DIFFS.length - 1]
      await session.close()
      return { metrics, info: { inProcess: true } }
    } finally {
      await Promise.all(nodes.map(async n => { await n.stop() }))
      for (const m of metas) m.close()
    }
  }
}
