/**
 * Only members get in (real nodes on 127.0.0.1): a private network's swarm
 * key, the peer allow-list, who may make a node hold a block, who may write
 * a name, and the storage quota.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { multiaddr } from '@multiformats/multiaddr'
import { BLOCK_PROTOCOL } from '../../src/protocols/block-exchange.ts'
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
})
