import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { startNetwork } from '../helpers/nodes.ts'
import type { TestNetwork } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/tmp.ts'

describe('integration: five nodes that know only the first one', function () {
  this.timeout(60_000)
  let net: TestNetwork

  before(async () => { net = await startNetwork(5) })
  after(async () => { await net?.stop() })

  it('all reach each other\'s routing tables', async () => {
    const ids = net.nodes.map(n => n.peerId.toString())
    const missing = (): string[] => net.nodes.flatMap((n, i) => {
      const table = new Set(n.routingTable())
      return ids.filter((id, j) => j !== i && !table.has(id)).map(id => `node ${i} lacks ${id}`)
    })
    await waitFor(() => missing().length === 0, 'full routing tables', 30_000).catch(() => {
      assert.deepEqual(missing(), [])
    })
    for (const n of net.nodes) assert.equal(n.health().routingTable, 4)
  })

  it('answers a closest-peers lookup of a random key on every node', async () => {
    const key = randomBytes(32)
    const ids = net.nodes.map(n => n.peerId.toString())
    for (const [i, node] of net.nodes.entries()) {
      const found = await node.closestPeers(key, { signal: AbortSignal.timeout(20_000) })
      // with five nodes and k = 20 a lookup must find every other node
      assert.deepEqual(found.sort(), ids.filter((_, j) => j !== i).sort(), `node ${i}`)
    }
  })

  it('lists connected peers through the node API', () => {
    for (const n of net.nodes) {
      const peers = n.peers()
      assert.ok(peers.length >= 1)
      for (const p of peers) assert.match(p.addresses[0], /^\/ip4\/127\.0\.0\.1\/tcp\/\d+/)
    }
  })
})
