/** The Helia side: each node is a bench/workers/helia-node.ts process. */
import path from 'node:path'
import { Worker } from './worker.ts'
import { pickLoopback, STALL_MS } from './peers.ts'
import type { AddResult, CatResult, PeerSystem, StoragePeer } from './peers.ts'

class HeliaPeer implements StoragePeer {
  readonly name: string
  readonly peerId: string
  readonly address: string
  private readonly worker: Worker

  constructor (name: string, worker: Worker, peerId: string, address: string) {
    this.name = name
    this.worker = worker
    this.peerId = peerId
    this.address = address
  }

  get pid (): number {
    return this.worker.pid
  }

  async add (file: string, _size: number, timeoutMs: number): Promise<AddResult> {
    return await this.worker.call<AddResult>('add', { file }, timeoutMs)
  }

  async cat (cid: string, timeoutMs: number): Promise<CatResult> {
    return await this.worker.call<CatResult>('cat', { cid, timeoutMs, stallMs: STALL_MS }, timeoutMs + 5000)
  }

  async dial (address: string): Promise<void> {
    await this.worker.call('dial', { address }, 20_000)
  }

  async stop (): Promise<void> {
    await this.worker.stop()
  }
}

export const helia: PeerSystem = {
  system: 'helia',
  label: 'Helia',
  notes: 'Helia 7 (createHeliaLight + withLibp2pLight + withBitswap), @helia/unixfs 8, blockstore-fs and datastore-fs on the temp dir, libp2p TCP + Noise + yamux + identify on 127.0.0.1, no DHT and no HTTP gateways: the fetching nodes dial the adder and bitswap asks the connected peers. Adds pass Kubo\'s CID v1 settings explicitly (256 KiB fixed chunks, raw leaves, balanced layout with 174 links): @helia/unixfs\'s own defaults are 1 MiB chunks and 1024 links. Timed inside the worker, reading the file from disk.',
  availability: async () => ({ available: true }),
  async start (ctx, name, join) {
    const worker = await Worker.start(ctx.scope, path.join(ctx.root, 'bench/workers/helia-node.ts'), `Helia ${name}`)
    const info = await worker.call<{ peerId: string, addresses: string[] }>('start', { repo: await ctx.newDir(`helia-${name}`) }, 30_000)
    const peer = new HeliaPeer(name, worker, info.peerId, pickLoopback(info.addresses, info.peerId))
    if (join != null) await peer.dial(join.address)
    return peer
  }
}
