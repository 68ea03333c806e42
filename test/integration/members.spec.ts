/**
 * Only members get in (real nodes on 127.0.0.1): a private network's swarm
 * key, the peer allow-list, who may make a node hold a block, who may write
 * a name, and the storage quota.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { parseCid } from '../../src/content/blocks.ts'
import { walkDag } from '../../src/content/dag.ts'
import { NameForbiddenError, PeerRefusedError, StorageFullError } from '../../src/errors.ts'
import { writeRecord } from '../../src/names/merge.ts'
import { decodeContext, encodeRecord } from '../../src/names/record.ts'
import { loadOrCreateIdentity } from '../../src/net/identity.ts'
import { NAME_SYNC_PROTOCOL, NameSession } from '../../src/protocols/name-sync.ts'
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

  describe('who may write a name (nameOwners)', () => {
    let net: TestNetwork
    const CID_A = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
    const CID_B = 'bafkreidgvpkjawlxz6sffxzwgooowe5yt7i6wsyg236mfoks77nywkptdq'
    before(async () => {
      net = await startNetwork(3, { replicas: 3, quorum: 2 }, [], () => NO_REPAIR)
      const owner = net.nodes[0].peerId.toString()
      // the same config on every node: restart each with it
      for (const node of [...net.nodes]) {
        const restarted = await net.restart(node, { nameOwners: { '/victim/': [owner] } })
        assert.ok(restarted.peerId.toString() !== '')
      }
      await waitForMembership(net.nodes)
    })
    after(async () => { await net?.stop() })

    it('an intruder member can neither write an owned name nor get its own signed write past any replica', async () => {
      const [owner, intruder, replica] = net.nodes
      await owner.names.put('/victim/x', { cid: CID_A, size: 1 })
      await assert.rejects(intruder.names.put('/victim/x', { cid: CID_B, size: 1 }), (err: Error) => err instanceof NameForbiddenError && /nameOwners/.test(err.message))
      // the attack as filed: read the name, sign a value whose context covers the owner's, send it to a replica
      const read = await intruder.names.get('/victim/x')
      const { privateKey } = await loadOrCreateIdentity(path.join(intruder.store.dir, 'identity.key'))
      const { record } = await writeRecord(undefined, {
        key: '/victim/x', value: { cid: CID_B, size: 1 }, context: decodeContext(read.context), actor: intruder.peerId.toString(), privateKey, now: Date.now()
      })
      const session = new NameSession(await intruder.libp2p.dialProtocol(replica.peerId, NAME_SYNC_PROTOCOL), replica.peerId)
      try {
        await assert.rejects(session.put(encodeRecord(record)), (err: Error) => err instanceof PeerRefusedError && err.remoteCode === 'ERR_NAME_FORBIDDEN')
      } finally {
        await session.close()
      }
      for (const node of net.nodes) {
        const got = await node.names.get('/victim/x')
        assert.equal(got.conflict, false)
        assert.equal(got.value?.cid, CID_A, 'every node still shows only the owner\'s value')
      }
      // elsewhere any member writes
      const outcome = await intruder.names.put('/shared/y', { cid: CID_B, size: 1 })
      assert.equal(outcome.value?.cid, CID_B)
    })
  })
})
