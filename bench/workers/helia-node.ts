/**
 * Worker: one Helia node (the current majors: helia 7 with
 * createHeliaLight + withLibp2pLight + withBitswap, @helia/unixfs 8) on
 * blockstore-fs and datastore-fs, libp2p TCP + Noise + yamux on 127.0.0.1,
 * no DHT, no HTTP gateways: bitswap between directly connected peers only.
 */
import path from 'node:path'
import fs from 'node:fs'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import type { HeliaWithLibp2p } from '@helia/libp2p'
import { unixfs } from '@helia/unixfs'
import type { UnixFS } from '@helia/unixfs'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { FsBlockstore } from 'blockstore-fs'
import { FsDatastore } from 'datastore-fs'
import { createHeliaLight } from 'helia'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { CID } from 'multiformats/cid'
import { serve } from './ipc.ts'

let helia: HeliaWithLibp2p<any> | undefined
let fsys: UnixFS | undefined

function started (): { helia: HeliaWithLibp2p<any>, fsys: UnixFS } {
  if (helia == null || fsys == null) throw new Error('not started')
  return { helia, fsys }
}

serve({
  async start ({ repo }: { repo: string }) {
    const blockstore = new FsBlockstore(path.join(repo, 'blocks'))
    const datastore = new FsDatastore(path.join(repo, 'datastore'))
    await blockstore.open()
    await datastore.open()
    const node = withBitswap(withLibp2pLight(createHeliaLight({ blockstore, datastore }), {
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify() }
    }))
    await node.start()
    helia = node
    fsys = unixfs(node)
    return { peerId: node.libp2p.peerId.toString(), addresses: node.libp2p.getMultiaddrs().map(a => a.toString()) }
  },

  /** Import `file` as Kubo's `ipfs add --cid-version 1 --chunker size-262144` would (raw leaves, balanced, 174 links). */
  async add ({ file }: { file: string }) {
    const { fsys } = started()
    const begin = performance.now()
    const cid = await fsys.addByteStream(fs.createReadStream(file, { highWaterMark: 1024 * 1024 }), {
      cidVersion: 1,
      rawLeaves: true,
      chunker: fixedSize({ chunkSize: 262_144 }),
      layout: balanced({ maxChildrenPerNode: 174 })
    })
    return { cid: cid.toString(), seconds: (performance.now() - begin) / 1000 }
  },

  async dial ({ address }: { address: string }) {
    const { helia } = started()
    await helia.libp2p.dial(multiaddr(address), { signal: AbortSignal.timeout(10_000) })
    return true
  },

  /**
   * Read the whole file through Helia (blocks it lacks come over bitswap and
   * are stored). Fails when no byte arrives for `stallMs`.
   */
  async cat ({ cid, timeoutMs, stallMs }: { cid: string, timeoutMs: number, stallMs: number }) {
    const { fsys } = started()
    const controller = new AbortController()
    const begin = performance.now()
    let firstByte = NaN
    let bytes = 0
    let stall: NodeJS.Timeout | undefined
    const arm = (): void => {
      clearTimeout(stall)
      stall = setTimeout(() => { controller.abort(new Error(`stalled: no data for ${stallMs / 1000} s after ${bytes} bytes`)) }, stallMs)
    }
    arm()
    try {
      for await (const chunk of fsys.cat(CID.parse(cid), { signal: AbortSignal.any([controller.signal, AbortSignal.timeout(timeoutMs)]) })) {
        if (bytes === 0) firstByte = performance.now() - begin
        bytes += chunk.byteLength
        arm()
      }
    } catch (err) {
      throw controller.signal.aborted ? controller.signal.reason : err
    } finally {
      clearTimeout(stall)
    }
    return { bytes, seconds: (performance.now() - begin) / 1000, ttfbMs: firstByte }
  }
}, async () => { await helia?.stop() })
