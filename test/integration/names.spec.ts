import assert from 'node:assert/strict'
import { createContext } from '../../src/names/dvv.ts'
import { writeRecord } from '../../src/names/merge.ts'
import { decodeRecord, encodeRecord, isTombstone } from '../../src/names/record.ts'
import type { NameRecord, Sibling } from '../../src/names/record.ts'
import { nameKey } from '../../src/names/service.ts'
import type { ShoalNode } from '../../src/node/node.ts'
import { createLogger } from '../../src/platform/logger.ts'
import { NameSession } from '../../src/protocols/name-sync.ts'
import { closestPeers } from '../../src/replication/placement.ts'
import { CIDS, testNode } from '../names/helpers.ts'
import { heal, partitionGater, split, startNetwork, waitForMembership } from '../helpers/nodes.ts'
import type { TestNetwork } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/tmp.ts'

const HOUR = 3_600_000
const [X, Y, Z] = CIDS
const W = 'bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq'

/** The record `node` holds for `key` (undefined: none). */
function held (node: ShoalNode, key: string): NameRecord | undefined {
  const row = node.names.storage.getName(key)
  return row == null ? undefined : decodeRecord(row.record)
}

/** The CIDs of the live siblings `node` holds for `key`, sorted. */
function liveCids (node: ShoalNode, key: string): string[] {
  return (held(node, key)?.siblings ?? []).filter(s => !isTombstone(s.value)).map(s => (s.value as { cid: string }).cid).sort()
}

/** The nodes of the true replica set of `key` (k = 3 over every node). */
function replicasOf (key: string, nodes: ShoalNode[]): ShoalNode[] {
  const set = closestPeers(nameKey(key), nodes.map(n => n.peerId), 3).map(String)
  return nodes.filter(n => set.includes(n.peerId.toString()))
}

describe('integration: names on 127.0.0.1', function () {
  this.timeout(120_000)

  describe('five nodes split in two groups, the same name written on both sides', () => {
    let net: TestNetwork
    const logs: string[][] = []
    const gaters = new Map<ShoalNode, Set<string>>()
    const KEY = '/shared/report.txt'

    before(async () => {
      const parts = Array.from({ length: 5 }, () => partitionGater())
      const loggers = Array.from({ length: 5 }, (_, i) => {
        logs[i] = []
        return createLogger({ level: 'warn', write: (line) => { logs[i].push(line) } })
      })
      net = await startNetwork(5, {}, loggers, (i) => ({ connectionGater: parts[i].gater, names: { joinSyncDelayMs: 50, syncIntervalMs: 0 } }))
      net.nodes.forEach((n, i) => gaters.set(n, parts[i].blocked))
      await waitForMembership(net.nodes)
    })
    after(async () => { await net?.stop() })

    it('both values are siblings on every replica after the split heals; resolve leaves one value everywhere', async () => {
      const left = net.nodes.slice(0, 3)
      const right = net.nodes.slice(3)
      await split(left, right, gaters)

      // each side acknowledges its write at its own quorum
      const wx = await left[0].names.put(KEY, { cid: X, size: 1 })
      assert.equal(wx.conflict, false)
      assert.ok(wx.replicas.confirmed >= 2)
      const wy = await right[0].names.put(KEY, { cid: Y, size: 2 })
      assert.equal(wy.conflict, false, 'the right side has not seen X')
      assert.equal(wy.replicas.replicaSet, 2, 'the right side sees two storage nodes')
      assert.deepEqual((await left[1].names.get(KEY)).siblings.map(s => s.cid), [X])
      assert.deepEqual((await right[1].names.get(KEY)).siblings.map(s => s.cid), [Y])

      await heal(left, right, gaters)
      const replicas = replicasOf(KEY, net.nodes)
      await waitFor(() => replicas.every(n => liveCids(n, KEY).join() === [X, Y].sort().join()), 'both values as siblings on every replica', 20_000)
      for (const n of net.nodes) {
        const view = await n.names.get(KEY)
        assert.equal(view.conflict, true, n.peerId.toString())
        assert.deepEqual(view.siblings.map(s => s.cid).sort(), [X, Y].sort())
      }
      assert.deepEqual((await net.nodes[2].names.conflicts()).map(c => c.path), [KEY])

      // resolve through a node of the right side
      const resolved = await right[1].names.resolve(KEY, Y)
      assert.equal(resolved.conflict, false)
      assert.equal(resolved.replaced, 2)
      assert.equal(resolved.written.size, 2, 'the size of the sibling with that CID')
      await waitFor(() => replicas.every(n => liveCids(n, KEY).join() === Y), 'Y alone on every replica', 20_000)
      for (const n of net.nodes) {
        const view = await n.names.get(KEY)
        assert.deepEqual(view.siblings.map(s => s.cid), [Y], n.peerId.toString())
        assert.equal(view.conflict, false)
      }
      assert.deepEqual(await net.nodes[4].names.conflicts(), [])

      // coordinators that are not replicas hand the name off once the replicas hold it
      for (const n of net.nodes) await n.names.syncWith(replicas[0].peerId).catch(() => {})
      await waitFor(async () => {
        for (const n of net.nodes) n.names.sweep()
        return net.nodes.every(n => (held(n, KEY) != null) === replicas.includes(n))
      }, 'only the replicas to keep the name', 20_000)
    })

    it('a write acknowledged at its quorum still reaches every replica when the caller goes away right after', async () => {
      const KEY3 = '/shared/after.txt'
      const replicas = replicasOf(KEY3, net.nodes)
      const coordinator = net.nodes.find(n => !replicas.includes(n)) as ShoalNode
      for (let i = 0; i < 5; i++) {
        const caller = new AbortController()
        const cid = CIDS[i % CIDS.length]
        const done = await coordinator.names.put(KEY3, { cid, size: i }, { signal: caller.signal, context: (await coordinator.names.get(KEY3)).context })
        caller.abort()
        assert.equal(done.replicas.quorum, 2)
        // no reads of the replicas, no periodic re-sync: only the write's own sends
        await waitFor(() => replicas.every(n => held(n, KEY3)?.siblings.some(s => s.dot.counter === i + 1 && s.value.owner === coordinator.peerId.toString()) === true), `write ${i + 1} on every replica`, 10_000, 20)
      }
    })

    it('a record with a forged signature, a tampered vector or another node\'s dot is rejected and logged with the sender', async () => {
      const KEY2 = '/shared/forged.txt'
      await net.nodes[0].names.put(KEY2, { cid: X, size: 10 })
      const replicas = replicasOf(KEY2, net.nodes)
      await waitFor(() => replicas.every(n => liveCids(n, KEY2).join() === X), 'the write on every replica')
      const victim = replicas[0]
      const hostile = net.nodes.find(n => !n.peerId.equals(victim.peerId)) as ShoalNode
      const victimLog = logs[net.nodes.indexOf(victim)]
      const before = victim.names.storage.getName(KEY2)?.hash
      const good = held(victim, KEY2) as NameRecord
      const s = good.siblings[0]
      const forge = (sibling: Partial<Sibling>): Uint8Array => encodeRecord({ key: KEY2, siblings: [Object.freeze({ ...s, ...sibling })] })
      const stranger = await testNode(42)
      const wrongActor = await writeRecord(undefined, { key: KEY2, value: { cid: Z, size: 1 }, actor: victim.peerId.toString(), privateKey: stranger.privateKey, now: Date.now() })
      const attempts: Array<[string, Uint8Array, RegExp]> = [
        ['forged signature', forge({ value: { ...s.value, cid: Z } as Sibling['value'] }), /signature does not match/],
        ['tampered vector', forge({ context: createContext({ [stranger.id]: 7 }) }), /signature does not match/],
        ['another node\'s dot', encodeRecord(wrongActor.record), /not by its coordinator/]
      ]
      const session = await NameSession.open(async (p, proto, o) => await hostile.libp2p.dialProtocol(p, proto, o), victim.peerId)
      try {
        for (const [what, bytes, why] of attempts) {
          const lines = victimLog.length
          await assert.rejects(session.put(bytes), (err: Error) => why.test(err.message), what)
          await waitFor(() => victimLog.slice(lines).some(l => l.includes('rejected a name record from peer') && l.includes(hostile.peerId.toString()) && why.test(l)), `the victim to log the ${what}`, 5000, 20)
        }
        // the stream keeps serving, and nothing changed
        assert.equal(session.closed, false)
        assert.deepEqual(decodeRecord(await session.get(KEY2) as Uint8Array), good)
      } finally {
        await session.close()
      }
      assert.deepEqual(victim.names.storage.getName(KEY2)?.hash, before)
      assert.deepEqual((await net.nodes[1].names.get(KEY2)).siblings.map(x => x.cid), [X])
    })
  })

  describe('a node whose wall clock is hours off (an injected skewed clock; see test/e2e/names.spec.ts for libfaketime)', () => {
    const KEY = '/clock/skew.txt'

    /** The same history on three nodes, the third with its clock `skewMs` off; what every node holds after each step. */
    async function history (skewMs: number): Promise<{ outcome: unknown[], winnerAtConflict: string | undefined }> {
      const net = await startNetwork(3, {}, [], (i) => ({ names: { syncIntervalMs: 0, ...(i === 2 ? { now: () => Date.now() + skewMs } : {}) } }))
      try {
        await waitForMembership(net.nodes)
        const [a, , s] = net.nodes
        const outcome: unknown[] = []
        const settle = async (what: string, cids: string[]): Promise<void> => {
          await waitFor(() => net.nodes.every(n => liveCids(n, KEY).join() === cids.join()), `${what} (skew ${skewMs})`, 20_000)
          const views = await Promise.all(net.nodes.map(async n => await n.names.get(KEY)))
          outcome.push({ what, views: views.map(v => ({ exists: v.exists, conflict: v.conflict, cids: v.siblings.filter(x => x.deleted !== true).map(x => x.cid).sort(), tombstones: v.siblings.filter(x => x.deleted === true).length })) })
        }
        // concurrent blind writes: siblings, whatever the clocks say
        await a.names.put(KEY, { cid: X, size: 1 })
        await s.names.put(KEY, { cid: Y, size: 2 })
        await settle('concurrent writes', [X, Y].sort())
        const winnerAtConflict = (await a.names.get(KEY)).value?.cid
        // the skewed node read both: its write replaces them, even with an mtime hours before X's
        await s.names.put(KEY, { cid: Z, size: 3 }, { context: (await s.names.get(KEY)).context })
        await settle('the skewed node replaces what it read', [Z])
        // and a write by a node with a right clock that read Z replaces Z
        await a.names.put(KEY, { cid: W, size: 4 }, { context: (await a.names.get(KEY)).context })
        await settle('a later write replaces the skewed node\'s', [W])
        await s.names.remove(KEY)
        await settle('the skewed node deletes', [])
        return { outcome, winnerAtConflict }
      } finally {
        await net.stop()
      }
    }

    it('keeps the same siblings and the same causality as with right clocks; only the displayed default differs', async () => {
      const right = await history(0)
      const slow = await history(-5 * HOUR)
      const fast = await history(5 * HOUR)
      assert.deepEqual(slow.outcome, right.outcome)
      assert.deepEqual(fast.outcome, right.outcome)
      assert.equal((right.outcome[0] as { views: Array<{ conflict: boolean }> }).views.every(v => v.conflict), true)
      // the default winner is chosen by mtime, for display only
      assert.equal(slow.winnerAtConflict, X, 'the slow node\'s value looks older')
      assert.equal(fast.winnerAtConflict, Y, 'the fast node\'s value looks newer')
    })
  })

  describe('tombstones', () => {
    let net: TestNetwork
    const gaters = new Map<ShoalNode, Set<string>>()
    const KEY = '/deleted/once.txt'
    const GRACE = 300

    before(async () => {
      const parts = Array.from({ length: 3 }, () => partitionGater())
      net = await startNetwork(3, {}, [], (i) => ({ connectionGater: parts[i].gater, names: { syncIntervalMs: 0, joinSyncDelayMs: 50, tombstoneGraceMs: GRACE } }))
      net.nodes.forEach((n, i) => gaters.set(n, parts[i].blocked))
      await waitForMembership(net.nodes)
    })
    after(async () => { await net?.stop() })

    it('are kept while a replica that held the value has not seen them, and collected everywhere once all have; the value never comes back', async () => {
      const [a, b, c] = net.nodes
      await a.names.put(KEY, { cid: X, size: 1 })
      // ... and a has heard back from both (an answer lost in the split below would leave c unknown to a:
      // the gap that anti-entropy will close)
      await waitFor(() => net.nodes.every(n => liveCids(n, KEY).join() === X) &&
        [b, c].every(o => a.names.storage.namePeers(KEY).some(p => p.peer === o.peerId.toString())), 'X on the three replicas, and a told so')
      // c is cut off, still holding X; a deletes with b
      await split([a, b], [c], gaters)
      const rm = await a.names.remove(KEY)
      assert.equal(rm.exists, false)
      assert.equal(rm.replicas.confirmed, 2)
      await new Promise(resolve => setTimeout(resolve, GRACE + 50))
      assert.deepEqual(a.names.sweep().collected, [], 'c has not seen the tombstone')
      assert.ok(held(a, KEY) != null)
      assert.deepEqual(liveCids(c, KEY), [X], 'the stale replica')

      await heal([a, b], [c], gaters)
      await waitFor(() => liveCids(c, KEY).length === 0 && held(c, KEY) != null, 'the tombstone to reach c', 20_000)
      // right after the heal nothing is collected before the grace period, measured from when each node got the tombstone
      assert.deepEqual(c.names.sweep().collected, [], 'c got the tombstone just now')
      await waitFor(async () => {
        for (const n of net.nodes) {
          // a sync round tells each node what the others hold
          for (const o of net.nodes) if (o !== n) await n.names.syncWith(o.peerId).catch(() => {})
          n.names.sweep()
        }
        return net.nodes.every(n => held(n, KEY) == null)
      }, 'the tombstone to be collected on every replica', 20_000, GRACE)
      for (const n of net.nodes) {
        const view = await n.names.get(KEY)
        assert.equal(view.exists, false)
        assert.deepEqual(view.siblings, [])
      }
      assert.deepEqual(await b.names.list('/deleted'), [])
    })
  })
})
