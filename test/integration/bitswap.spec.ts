/**
 * An IPFS node fetches from shoal over bitswap (real nodes on 127.0.0.1):
 * Helia 7 with its own bitswap, connected to a shoal node and nothing else.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import type { HeliaWithLibp2p } from '@helia/libp2p'
import { unixfs } from '@helia/unixfs'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createHeliaLight } from 'helia'
import { CID } from 'multiformats/cid'
import { importFile, nullSink } from '../../src/content/importer.ts'
import { startNetwork } from '../helpers/nodes.ts'
import type { TestNetwork } from '../helpers/nodes.ts'

const BITSWAP = '/ipfs/bitswap/1.2.0'

async function * once (bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes
}

async function heliaNode (): Promise<HeliaWithLibp2p<any>> {
  const node = withBitswap(withLibp2pLight(createHeliaLight(), {
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() }
  }))
  await node.start()
  return node
}

describe('integration: bitswap for IPFS nodes', function () {
  this.timeout(60_000)
  let net: TestNetwork
  let helia: HeliaWithLibp2p<any> | undefined
  before(async () => { net = await startNetwork(1, { replicas: 1, quorum: 1 }) })
  afterEach(async () => {
    await helia?.stop()
    helia = undefined
  })
  after(async () => { await net?.stop() })

  it("Helia reads a multi-block file from a shoal node it is connected to, verifying every block, and gets nothing shoal lacks", async () => {
    const [shoal] = net.nodes
    assert.ok(shoal.libp2p.getProtocols().includes(BITSWAP))
    const bytes = randomBytes(1024 * 1024 + 12_345)
    const { cid } = await shoal.files.add(once(bytes))
    helia = await heliaNode()
    await helia.libp2p.dial(multiaddr(shoal.addresses()[0]), { signal: AbortSignal.timeout(10_000) })
    const parts: Uint8Array[] = []
    for await (const chunk of unixfs(helia).cat(CID.parse(cid), { signal: AbortSignal.timeout(20_000) })) parts.push(chunk)
    assert.ok(Buffer.concat(parts).equals(bytes))

    // a CID nobody stored: shoal answers DONT_HAVE and fetches nothing for the asker
    const missing = (await importFile(randomBytes(100), nullSink)).cid
    const node = helia
    await assert.rejects((async () => { for await (const chunk of node.blockstore.get(missing, { signal: AbortSignal.timeout(1500) })) void chunk })())
    assert.equal(await shoal.store.blocks.has(missing), false)
  })

  it('is off with "bitswap": false', async () => {
    const off = await net.add({ replicas: 1, quorum: 1, bitswap: false, bootstrap: [] })
    assert.ok(!off.libp2p.getProtocols().includes(BITSWAP))
  })
})
