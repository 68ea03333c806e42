/**
 * Metrics across nodes (real nodes on 127.0.0.1): bytes per protocol, and
 * blocks by the live copies of their range (the under-replicated ones).
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
// @ts-expect-error: the parser ships no types
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { BLOCK_PROTOCOL } from '../../src/protocols/block-exchange.ts'
import type { ShoalNode } from '../../src/node/node.ts'
import { startNetwork, waitForMembership } from '../helpers/nodes.ts'
import type { TestNetwork } from '../helpers/nodes.ts'

interface Family { name: string, metrics: Array<{ value: string, labels?: Record<string, string> }> }

async function scrape (node: ShoalNode): Promise<(name: string, labels?: Record<string, string>) => number> {
  const families = parsePrometheusTextFormat(await node.metrics.text()) as Family[]
  return (name, labels = {}) => {
    const m = families.find(f => f.name === name)?.metrics.find(m => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
    return m == null ? 0 : Number(m.value)
  }
}

async function * once (bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes
}

describe('integration: metrics', function () {
  this.timeout(60_000)
  let net: TestNetwork
  before(async () => {
    net = await startNetwork(2, { replicas: 3, quorum: 2 }, [], () => ({ repair: { enabled: false } }))
    await waitForMembership(net.nodes)
  })
  after(async () => { await net?.stop() })

  it('counts the block protocol bytes each way, and shows blocks whose range has 2 of 3 live copies as under-replicated', async () => {
    const [a, b] = net.nodes
    const size = 2 * 1024 * 1024
    const before = await scrape(a)
    const added = await a.files.add(once(randomBytes(size)))
    assert.equal(added.replication.replicas[2], added.blocks)
    const m = await scrape(a)
    // a pushed every block to b
    assert.ok(m('shoal_p2p_bytes_total', { protocol: BLOCK_PROTOCOL, direction: 'out' }) - before('shoal_p2p_bytes_total', { protocol: BLOCK_PROTOCOL, direction: 'out' }) > size)
    assert.ok(m('shoal_p2p_bytes_total', { protocol: 'connection', direction: 'out' }) > size)
    const mb = await scrape(b)
    assert.ok(mb('shoal_p2p_bytes_total', { protocol: BLOCK_PROTOCOL, direction: 'in' }) > size)
    // two members for k = 3: every range has 2 live copies, below k
    assert.equal(m('shoal_blocks_by_live_copies', { copies: '2' }), m('shoal_blocks'))
    assert.equal(m('shoal_under_replicated_blocks'), m('shoal_blocks'))
    assert.ok(m('shoal_blocks') >= added.blocks)
    assert.equal(m('shoal_storage_peers'), 1)
  })
})
