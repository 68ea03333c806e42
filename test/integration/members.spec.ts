/**
 * Only members get in (real nodes on 127.0.0.1): a private network's swarm
 * key, the peer allow-list, who may make a node hold a block, who may write
 * a name, and the storage quota.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { parseCid } from '../../src/content/blocks.ts'
import { walkDag } from '../../src/content/dag.ts'
import { StorageFullError } from '../../src/errors.ts'
import { BLOCK_PROTOCOL, BlockSession } from '../../src/protocols/block-exchange.ts'
import { blockKey, closestPeers } from '../../src/replication/placement.ts'
import { generateSwarmKey, parseSwarmKey } from '../../src/net/swarm-key.ts'
import type { ShoalNode } from '../../src/node/node.ts'
import { startNetwork, waitForMembership } from '../helpers/nodes.ts'
import type { TestNetwork } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/tmp.ts'

const MiB = 1024 * 1024
const NO_REPAIR = { repair: { enabled: false } }

async function * once (bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes
}

async function catAll (node: ShoalNode, cid: string, signal?: AbortSignal): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const chunk of node.files.cat(cid, { signal })) parts.push(chunk)
  return Buffer.concat(parts)
}

describe('integration: only members get in', function () {
  this.timeout(90_000)

  describe('a private network (swarm key)', () => {
    const key = parseSwarmKey(generateSwarmKey())
    let net: TestNetwork
    let outsider: ShoalNode
    let otherKey: ShoalNode
    before(async () => {
      net = await startNetwork(3, { replicas: 2, quorum: 2 }, [], () => ({ swarmKey: key, ...NO_REPAIR }))
      await waitForMembership(net.nodes)
      outsider = await net.add({}, undefined, { swarmKey: null, ...NO_REPAIR })
      otherKey = await net.add({}, undefined, { swarmKey: parseSwarmKey(generateSwarmKey()), ...NO_REPAIR })
    })
    after(async () => { await net?.stop() })

    it('members with the key connect and replicate; a node without the key, or with another, cannot connect', async () => {
      const [a, b] = net.nodes
      const data = randomBytes(MiB)
      const { cid } = await a.files.add(once(data))
      assert.deepEqual(await catAll(b, cid), data)
      for (const intruder of [outsider, otherKey]) {
        await assert.rejects(intruder.libp2p.dial(multiaddr(a.addresses()[0]), { signal: AbortSignal.timeout(10_000) }))
        assert.equal(intruder.libp2p.getConnections().length, 0)
        // and so it reads nothing
        await assert.rejects(catAll(intruder, cid, AbortSignal.timeout(5000)))
      }
      for (const member of net.nodes.slice(0, 3)) {
        const seen = [...member.libp2p.getPeers().map(String), ...member.routingTable()]
        assert.ok(!seen.includes(outsider.peerId.toString()) && !seen.includes(otherKey.peerId.toString()), 'no intruder among the peers or in the routing table')
      }
      assert.equal(a.health().network.private, true)
      assert.equal(a.health().network.fingerprint, key.fingerprint)
    })
  })

  describe('an allow-list of peer ids', () => {
    let net: TestNetwork
    before(async () => {
      net = await startNetwork(2, { replicas: 2, quorum: 2 }, [], () => NO_REPAIR)
      await waitForMembership(net.nodes)
    })
    after(async () => { await net?.stop() })

    it('a node that allows only its members refuses any other peer, each way', async () => {
      const [a, b] = net.nodes
      const guarded = await net.add({ allowPeers: [a.peerId.toString(), b.peerId.toString()] }, undefined, NO_REPAIR)
      await waitFor(() => guarded.membership.peers().length === 2, 'the guarded node to see both members')
      const stranger = await net.add({ bootstrap: [] }, undefined, NO_REPAIR)
      // the refusal comes after the handshake: the stranger may see its dial
      // succeed for a moment, but no stream opens and the connection is gone
      await assert.rejects(stranger.libp2p.dialProtocol(multiaddr(guarded.addresses()[0]), BLOCK_PROTOCOL, { signal: AbortSignal.timeout(10_000) }))
      await assert.rejects(guarded.libp2p.dial(multiaddr(stranger.addresses()[0]), { signal: AbortSignal.timeout(10_000) }))
      await waitFor(() => stranger.libp2p.getConnections(guarded.peerId).length === 0, 'the stranger\'s connection to be closed', 10_000)
      assert.ok(!guarded.libp2p.getPeers().some(p => p.equals(stranger.peerId)))
      assert.ok(!guarded.membership.peers().some(p => p.equals(stranger.peerId)))
    })
  })

  describe('who may make a node hold a block', () => {
    let net: TestNetwork
    before(async () => {
      net = await startNetwork(5, {}, [], () => NO_REPAIR)
      await waitForMembership(net.nodes)
    })
    after(async () => { await net?.stop() })

    /** A random raw block whose 3 nearest of the five do (or do not) include `target`. */
    async function blockFor (target: ShoalNode, placed: boolean): Promise<{ cid: CID, bytes: Uint8Array }> {
      for (let i = 0; i < 1000; i++) {
        const bytes = randomBytes(1024)
        const cid = CID.createV1(raw.code, await sha256.digest(bytes))
        const set = closestPeers(blockKey(cid), net.nodes.map(n => n.peerId), 3)
        if (set.some(p => p.equals(target.peerId)) === placed) return { cid, bytes }
      }
      throw new Error('no such block in 1000 tries')
    }

    it('a member cannot make a node hold a block that node is not placed for; a block it is placed for is held', async () => {
      const [pusher, target] = net.nodes
      const session = await BlockSession.open(async (peer, protocol, o) => await pusher.libp2p.dialProtocol(peer, protocol, o), target.peerId)
      try {
        const foreign = await Promise.all([0, 1, 2].map(async () => await blockFor(target, false)))
        assert.deepEqual(await session.put(foreign), [false, false, false])
        for (const b of foreign) assert.equal(await target.store.blocks.has(b.cid), false)
        const own = await blockFor(target, true)
        assert.deepEqual(await session.put([own]), [true])
        assert.equal(await target.store.isHeld(own.cid), true)
      } finally {
        await session.close()
      }
    })
  })

  describe('a storage quota (storageMax)', () => {
    const MAX = 600 * 1024
    let net: TestNetwork
    before(async () => {
      net = await startNetwork(3, { replicas: 3, quorum: 3 }, [], () => NO_REPAIR)
      await net.add({ replicas: 3, quorum: 3, storageMax: MAX }, undefined, NO_REPAIR)
      await waitForMembership(net.nodes)
    })
    after(async () => { await net?.stop() })

    it('a node at its quota refuses an add with ERR_STORAGE_FULL, and reports its use', async () => {
      const full = net.nodes[3]
      await assert.rejects(full.files.add(once(randomBytes(MiB))), (err: Error) => err instanceof StorageFullError && /storageMax/.test(err.message))
      const { usedBytes, maxBytes } = full.health().storage
      assert.equal(maxBytes, MAX)
      assert.ok(usedBytes <= MAX, `${usedBytes} used of ${MAX}`)
      assert.ok((await full.store.stat()).cacheBytes > 0, 'the failed add left cache (unpinned blocks) behind')
    })

    it('others\' adds go to the next nearest node instead: every block still gets 3 copies; the full node reclaimed its cache first', async () => {
      const [adder] = net.nodes
      const full = net.nodes[3]
      const data = randomBytes(3 * MiB)
      const { cid } = await adder.files.add(once(data))
      const blocks: CID[] = []
      for await (const b of walkDag(parseCid(cid), { get: async (c) => await adder.store.blocks.get(c) })) blocks.push(b.cid)
      let onFull = 0
      for (const block of blocks) {
        let copies = 0
        for (const n of net.nodes) if (await n.store.blocks.has(block)) copies++
        assert.ok(copies >= 3, `block ${block} has ${copies} copies`)
        if (await full.store.blocks.has(block)) onFull++
      }
      const placedOnFull = blocks.filter(b => closestPeers(blockKey(b), net.nodes.map(n => n.peerId), 3).some(p => p.equals(full.peerId))).length
      assert.ok(onFull < placedOnFull, `the full node took ${onFull} of the ${placedOnFull} blocks placed on it`)
      assert.ok(full.store.usage().usedBytes <= MAX)
      assert.ok(full.store.metadata.stat('gc_runs') >= 1, 'the cache was reclaimed')
    })
  })
})
