import { generateKeyPair } from '@libp2p/crypto/keys'
import { createNetwork } from '../../src/net/libp2p.ts'
import type { ShoalLibp2p } from '../../src/net/libp2p.ts'

/** Two started libp2p nodes on 127.0.0.1, the second connected to the first. */
export async function connectedPair (): Promise<[ShoalLibp2p, ShoalLibp2p]> {
  const make = async (): Promise<ShoalLibp2p> => {
    const node = await createNetwork({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    await node.start()
    return node
  }
  const a = await make()
  const b = await make()
  await b.dial(a.getMultiaddrs()[0])
  return [a, b]
}
