/**
 * Worker: a bare libp2p node (TCP + Noise + yamux, the stack shoal and Helia
 * both run on) with a sink protocol: the receiver reads a stream to its end
 * and answers with the byte count. The sender times one bulk transfer.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import type { Libp2p, Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { keystream } from '../lib/data.ts'
import { serve } from './ipc.ts'

const SINK = '/shoal-bench/sink/1.0.0'
let node: Libp2p | undefined

function encodeCount (n: number): Uint8Array {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigUint64(0, BigInt(n))
  return out
}

async function readAll (stream: Stream): Promise<Uint8Array[]> {
  const parts: Uint8Array[] = []
  for await (const chunk of stream) parts.push(chunk instanceof Uint8Array ? chunk : chunk.subarray())
  return parts
}

serve({
  async start () {
    node = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()]
    })
    await node.handle(SINK, async (stream) => {
      let received = 0
      for await (const chunk of stream) received += chunk.byteLength
      stream.send(encodeCount(received))
      await stream.close()
    }, { maxInboundStreams: 4 })
    return { peerId: node.peerId.toString(), addresses: node.getMultiaddrs().map(a => a.toString()) }
  },

  /** Send `bytes` over one new stream to `address`; time from opening the stream to the receiver's count. */
  async send ({ address, bytes, chunkSize }: { address: string, bytes: number, chunkSize: number }) {
    if (node == null) throw new Error('not started')
    const connection = await node.dial(multiaddr(address), { signal: AbortSignal.timeout(10_000) })
    const block = keystream('stream').next().value as Buffer
    const chunks: Uint8Array[] = []
    for (let off = 0; off + chunkSize <= block.length; off += chunkSize) chunks.push(block.subarray(off, off + chunkSize))
    const started = performance.now()
    const stream = await connection.newStream(SINK, { signal: AbortSignal.timeout(10_000) })
    let sent = 0
    let i = 0
    while (sent < bytes) {
      const piece = chunks[i++ % chunks.length]
      const part = bytes - sent >= piece.byteLength ? piece : piece.subarray(0, bytes - sent)
      if (!stream.send(part)) await stream.onDrain({ signal: AbortSignal.timeout(30_000) })
      sent += part.byteLength
    }
    await stream.close()
    const answer = Buffer.concat(await readAll(stream))
    const seconds = (performance.now() - started) / 1000
    const received = answer.byteLength >= 8 ? Number(answer.readBigUInt64BE(0)) : -1
    if (received !== bytes) throw new Error(`the receiver counted ${received} bytes of ${bytes}`)
    return { bytes, seconds }
  }
}, async () => { await node?.stop() })
