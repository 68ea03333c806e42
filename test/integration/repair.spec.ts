/**
 * Repair, anti-entropy and scrub with real nodes on 127.0.0.1: the network
 * keeps k = 3 copies of every block as nodes leave, join, restart, split
 * and lose or damage copies.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import type { CID } from 'multiformats/cid'
import { parseCid } from '../../src/content/blocks.ts'
import type { BlockSource } from '../../src/content/blocks.ts'
import { walkDag } from '../../src/content/dag.ts'
import type { ShoalNode } from '../../src/node/node.ts'
import { createLogger } from '../../src/platform/logger.ts'
import { blockKey, closestPeers } from '../../src/replication/placement.ts'
import type { RepairSettings } from '../../src/replication/service.ts'
import { corruptBlock } from '../helpers/blocks.ts'
import { heal, partitionGater, split, startNetwork, waitForMembership } from '../helpers/nodes.ts'
import type { TestNetwork } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/tmp.ts'

const MiB = 1024 * 1024
const GRACE = 1500
const REPAIR: Partial<RepairSettings> = { graceMs: GRACE, intervalMs: 700, settleMs: 200, bytesPerSecond: 500 * MiB, scrubPeriodMs: 0 }

async function * chunks (bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += MiB) yield bytes.subarray(i, i + MiB)
}

async function catAll (node: ShoalNode, cid: string): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const chunk of node.files.cat(cid)) parts.push(chunk)
  return Buffer.concat(parts)
}

interface Added { cid: string, data: Buffer, blocks: CID[], adder: ShoalNode }

/** Add random files, one per node given, and list every block of each. */
async function addFiles (adders: ShoalNode[], bytes: number): Promise<Added[]> {
  const out: Added[] = []
  for (const adder of adders) {
    const data = randomBytes(bytes)
    const { cid } = await adder.files.add(chunks(data))
    const local: BlockSource = { get: async (c) => await adder.store.blocks.get(c) }
    const blocks: CID[] = []
    for await (const b of walkDag(parseCid(cid), local)) blocks.push(b.cid)
    out.push({ cid, data, blocks, adder })
  }
  return out
}

/** For every block: whether its 3 nearest live nodes hold it, and who else does. */
async function placement (files: Added[], nodes: ShoalNode[]): Promise<{ missing: number, extra: number, blocks: number }> {
  let missing = 0
  let extra = 0
  let blocks = 0
  for (const f of files) {
    for (const block of f.blocks) {
      blocks++
      const nearest = closestPeers(blockKey(block), nodes.map(n => n.peerId), 3).map(String)
      for (const n of nodes) {
        const has = await n.store.blocks.has(block)
        const should = nearest.includes(n.peerId.toString())
        if (should && !has) missing++
        // the adder keeps its pinned copy wherever it is; cache (not held) is GC's
        if (!should && has && n !== f.adder && await n.store.isHeld(block)) extra++
      }
    }
  }
  return { missing, extra, blocks }
}

function moved (nodes: ShoalNode[]): number {
  return nodes.reduce((n, node) => {
    const t = node.replicas.status().totals
    return n + t.pushed.blocks + t.pulled.blocks
  }, 0)
}

describe('integration: repair on 127.0.0.1', function () {
  this.timeout(180_000)

  describe('six nodes, k = 3: failures, joins and a restart', () => {
    let net: TestNetwork
    let files: Added[]
    before(async () => {
      net = await startNetwork(6, {}, [], () => ({ repair: REPAIR }))
      await waitForMembership(net.nodes)
    })
    after(async () => { await net?.stop() })

    it('every block is on its 3 nearest nodes after the adds settle', async () => {
      files = await addFiles(net.nodes.slice(0, 4), 3 * MiB)
      await waitFor(async () => (await placement(files, net.nodes)).missing === 0, 'every block on its 3 nearest', 30_000, 200)
    })

    it('two nodes fail: within the grace period plus a pass every block has 3 live copies again, and every file reads byte-identical', async () => {
      const victims = [net.nodes[4], net.nodes[5]]
      for (const v of victims) {
        await v.stop()
        net.nodes.splice(net.nodes.indexOf(v), 1)
      }
      const started = Date.now()
      // during the grace period the survivors say what is under-replicated, and why
      const reason = /blocks \(\d+ bytes\) held here have fewer than 3 live copies: 2 storage peers left; repair copies them after the grace period/
      await waitFor(() => net.nodes.some(n => n.health().status === 'degraded' && n.health().underReplicated.blocks > 0 && reason.test(n.health().problems.join(' '))) &&
        net.nodes.every(n => n.repairStatus().departed.length === 2),
        'the survivors to see both gone, and one to report under-replicated blocks, and why', 5000, 50)
      await waitFor(async () => (await placement(files, net.nodes)).missing === 0, 'k = 3 live copies of every block', 30_000, 200)
      const took = Date.now() - started
      assert.ok(took >= GRACE - 200, `repair waited for the grace period (${took} ms)`)
      for (const f of files) {
        for (const n of net.nodes) assert.ok((await catAll(n, f.cid)).equals(f.data), `${f.cid} on ${n.peerId.toString()}`)
      }
      // every node's health says so
      await waitFor(() => net.nodes.every(n => n.replicas.status().underReplicated.blocks === 0), 'nothing under-replicated', 10_000, 200)
    })

    it('two nodes join: each takes its share, and the nodes that left a block\'s set drop their extra copies', async () => {
      await net.add({}, undefined, { repair: REPAIR })
      await net.add({}, undefined, { repair: REPAIR })
      await waitForMembership(net.nodes)
      await waitFor(async () => {
        const p = await placement(files, net.nodes)
        return p.missing === 0 && p.extra === 0
      }, 'every block on exactly its 3 nearest (and its adder)', 40_000, 300)
      // pinned blocks stay where they are pinned: each adder still has all it added
      for (const f of files) for (const block of f.blocks) assert.equal(await f.adder.store.blocks.has(block), true)
      const [a, b] = net.nodes.slice(-2)
      for (const joiner of [a, b]) {
        let share = 0
        for (const f of files) for (const block of f.blocks) if (closestPeers(blockKey(block), net.nodes.map(n => n.peerId), 3).some(p => p.equals(joiner.peerId))) share++
        assert.ok(share > 0, 'the joiner is responsible for some blocks')
        assert.equal((await joiner.store.stat()).blocks >= share, true)
      }
    })

    it('a node restarted within the grace period causes no copying', async () => {
      // let the passes settle first
      await new Promise(resolve => setTimeout(resolve, 1500))
      const victim = net.nodes[2]
      const others = net.nodes.filter(n => n !== victim)
      const before = moved(others)
      const again = await net.restart(victim)
      await waitForMembership(net.nodes)
      // longer than the grace period and several passes
      await new Promise(resolve => setTimeout(resolve, GRACE + 2000))
      assert.equal(moved(others), before, 'no block moved on the others')
      assert.equal(moved([again]), 0, 'the restarted node moved nothing')
      assert.equal((await placement(files, net.nodes)).missing, 0)
    })
  })

  describe('three nodes: lost, damaged and partitioned copies', () => {
    let net: TestNetwork
    const gaters = new Map<ShoalNode, Set<string>>()
    before(async () => {
      const parts = Array.from({ length: 4 }, () => partitionGater())
      net = await startNetwork(4, {}, [], (i) => ({ connectionGater: parts[i].gater, repair: { ...REPAIR, scrubPeriodMs: 1000, scrubStepMs: 500 } }))
      net.nodes.forEach((n, i) => gaters.set(n, parts[i].blocked))
      await waitForMembership(net.nodes)
    })
    after(async () => { await net?.stop() })

    it('a copy lost on a replica (a PUT that never landed) comes back by anti-entropy', async () => {
      const [f] = await addFiles([net.nodes[0]], 2 * MiB)
      await waitFor(async () => (await placement([f], net.nodes)).missing === 0, 'placed', 20_000, 200)
      const holder = net.nodes.find(n => n !== f.adder && f.blocks.some(() => true)) as ShoalNode
      const lost: CID[] = []
      for (const block of f.blocks) {
        if (lost.length < 3 && await holder.store.blocks.has(block) && closestPeers(blockKey(block), net.nodes.map(n => n.peerId), 3).some(p => p.equals(holder.peerId))) {
          await holder.store.blocks.delete(block)
          lost.push(block)
        }
      }
      assert.ok(lost.length > 0)
      await waitFor(async () => (await Promise.all(lost.map(async b => await holder.store.blocks.has(b)))).every(Boolean), 'the lost copies back', 20_000, 200)
    })

    it('a copy corrupted on disk is found by scrub, quarantined and replaced', async () => {
      const [f] = await addFiles([net.nodes[1]], MiB)
      await waitFor(async () => (await placement([f], net.nodes)).missing === 0, 'placed', 20_000, 200)
      const victim = net.nodes[1]
      const block = f.blocks[f.blocks.length - 1]
      await corruptBlock(victim.store, block)
      await waitFor(() => victim.replicas.status().scrub.restored >= 1, 'scrub to restore it', 20_000, 200)
      assert.equal((await fs.readdir(`${victim.store.dir}/quarantine`)).length, 1)
      assert.ok((await victim.store.blocks.get(block)).byteLength > 0, 'the right bytes again (a verified read)')
    })

    it('a partition heals and anti-entropy moves what was written on one side to its replicas on the other', async () => {
      const [a, b, c, d] = net.nodes
      await split([a, b], [c, d], gaters)
      // with only two reachable, an add with quorum 2 succeeds on one side
      const [f] = await addFiles([a], 2 * MiB)
      await heal([a, b], [c, d], gaters)
      await waitFor(async () => {
        const p = await placement([f], net.nodes)
        return p.missing === 0 && p.extra === 0
      }, 'every block on its 3 nearest once the partition healed', 30_000, 300)
      // and repair says so: a pass adds what it moved to the totals when it ends, which
      // can be after the blocks are in place
      const moved = (): number => c.replicas.status().totals.pulled.blocks + d.replicas.status().totals.pulled.blocks +
        [a, b].reduce((n, x) => n + x.replicas.status().totals.pushed.blocks + x.replicas.status().totals.handedOff.blocks, 0)
      await waitFor(() => moved() > 0, 'the repair passes that moved them to end', 10_000, 100)
    })
  })

  describe('limits: repair traffic is capped', () => {
    let net: TestNetwork
    const lines: string[] = []
    before(async () => {
      const loggers = Array.from({ length: 4 }, () => createLogger({ level: 'info', write: (line) => { lines.push(line) } }))
      net = await startNetwork(4, {}, loggers, () => ({ repair: { ...REPAIR, bytesPerSecond: MiB } }))
      await waitForMembership(net.nodes)
    })
    after(async () => { await net?.stop() })

    it('each node pulls at most the configured bytes per second', async () => {
      const files = await addFiles([net.nodes[0]], 24 * MiB)
      const victim = net.nodes[3]
      await victim.stop()
      net.nodes.splice(3, 1)
      // every pass each node ends meanwhile (a later pass with nothing to do may follow the one that pulled)
      const seen = new Map<string, NonNullable<ReturnType<ShoalNode['repairStatus']>['last']>>()
      await waitFor(async () => {
        for (const [i, n] of net.nodes.entries()) {
          const last = n.repairStatus().last
          if (last != null) seen.set(`${i}/${last.startedAt}`, last)
        }
        return (await placement(files, net.nodes)).missing === 0
      }, 'k = 3 live copies of every block', 60_000, 200)
      await Promise.all(net.nodes.map(async n => { await n.replicas.repairIdle() }))
      for (const [i, n] of net.nodes.entries()) {
        const last = n.repairStatus().last
        if (last != null) seen.set(`${i}/${last.startedAt}`, last)
      }
      const passes = [...seen.values()].filter(p => p.pulled.bytes >= 2 * MiB)
      assert.ok(passes.length > 0, 'a survivor pulled 2 MiB or more')
      for (const p of passes) {
        // one burst (1 MiB) ahead, then 1 MiB/s
        const seconds = (p!.endedAt - p!.startedAt) / 1000
        assert.ok(seconds >= (p!.pulled.bytes - MiB) / MiB - 0.2, `${p!.pulled.bytes} bytes in ${seconds} s`)
      }
      // the log says when repair starts moving blocks, and when it ends, with what it moved
      assert.ok(lines.some(l => /INFO .*repair started moving blocks first=pull peer=12D3\S+ blocks=\d+/.test(l)), lines.join(''))
      assert.ok(lines.some(l => /INFO .*repair ended pushed=.* pulled=\{"blocks":\d+,"bytes":\d+\}/.test(l)), lines.join(''))
    })
  })
})
