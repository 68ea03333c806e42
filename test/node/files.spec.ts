import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { CID } from 'multiformats/cid'
import { exportCar } from '../../src/content/car.ts'
import { importFile, nullSink } from '../../src/content/importer.ts'
import type { DirectoryEntryInput } from '../../src/content/importer.ts'
import { BlockNotFoundError, DiskFullError, InvalidCidError, NotPinnedError } from '../../src/errors.ts'
import { createNetwork } from '../../src/net/libp2p.ts'
import type { ShoalLibp2p } from '../../src/net/libp2p.ts'
import { Files } from '../../src/node/files.ts'
import type { ShoalNode } from '../../src/node/node.ts'
import type { AddProgress } from '../../src/node/files.ts'
import { silentLogger } from '../../src/platform/logger.ts'
import { BlockFetcher } from '../../src/replication/fetch.ts'
import { Membership } from '../../src/replication/membership.ts'
import { ReplicationPolicy } from '../../src/replication/policy.ts'
import { BlockReplicaService } from '../../src/replication/service.ts'
import { blockSessions } from '../../src/replication/sessions.ts'
import type { BlockSessions } from '../../src/replication/sessions.ts'
import { ContentStore } from '../../src/store/content-store.ts'
import { FsBlockstore, writeTempFile } from '../../src/store/fs-blockstore.ts'
import type { FsBlockstoreInit } from '../../src/store/fs-blockstore.ts'
import { startNetwork, waitForMembership } from '../helpers/nodes.ts'
import type { TestNetwork } from '../helpers/nodes.ts'
import { tempDir } from '../helpers/tmp.ts'

const CHUNK = 256 * 1024

/** An async source of the given buffers (Files takes async iterables, like a request body). */
async function * of<T = Uint8Array> (...items: T[]): AsyncGenerator<T> {
  yield * items
}

async function collect (source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const c of source) chunks.push(c)
  return Buffer.concat(chunks)
}

/** A promise and the function that resolves it. */
function gate (): { opened: Promise<void>, open: () => void } {
  let open!: () => void
  const opened = new Promise<void>(resolve => { open = resolve })
  return { opened, open }
}

/** `bytes` in pieces; after `pauseAt` bytes it waits for `wait`. */
async function * slowSource (bytes: Uint8Array, pauseAt: number, wait: Promise<void>): AsyncGenerator<Uint8Array> {
  const piece = 64 * 1024
  for (let i = 0; i < bytes.length; i += piece) {
    if (i === pauseAt) await wait
    yield bytes.subarray(i, i + piece)
  }
}

/** The CID of the raw leaf holding `chunk` (a one-chunk file with raw leaves is its leaf). */
async function leafCid (chunk: Uint8Array): Promise<CID> {
  return (await importFile(chunk, nullSink)).cid
}

/** Whether `p` settles within `ms`. */
async function settled (p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<false>(resolve => { timer = setTimeout(() => { resolve(false) }, ms) })
  try {
    return await Promise.race([p.then(() => true, () => true), timeout])
  } finally {
    clearTimeout(timer)
  }
}

function enospc (): NodeJS.ErrnoException {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' })
}

describe('node/Files', function () {
  this.timeout(30_000)
  let dir: string
  let cleanup: () => Promise<void>
  let libp2p: ShoalLibp2p
  let membership: Membership
  let sessions: BlockSessions
  const stores: ContentStore[] = []

  before(async () => {
    // a lone node: the replica set of every block is this node alone
    libp2p = await createNetwork({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    await libp2p.start()
    membership = new Membership({ libp2p })
    await membership.start()
    sessions = blockSessions(libp2p)
  })
  after(async () => {
    await sessions?.closeAll()
    membership?.stop()
    await libp2p?.stop()
  })
  beforeEach(async () => { ({ dir, cleanup } = await tempDir('shoal-files-')) })
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close().catch(() => {})
    await cleanup()
  })

  /** Files over a ContentStore in `dir`, wired as ShoalNode wires it. */
  async function open (blockstore: Partial<FsBlockstoreInit> = {}): Promise<{ files: Files, store: ContentStore }> {
    const inner = await FsBlockstore.open({ root: dir, ...blockstore })
    const store = await ContentStore.open({ dir, blockstore: inner })
    stores.push(store)
    const blocks = store.blocks
    const fetcher = new BlockFetcher({
      membership,
      sessions,
      k: 3,
      local: {
        has: async (cid, o) => await blocks.has(cid, o),
        get: async (cid, o) => await blocks.get(cid, o),
        putFetched: async (cid, bytes, o) => { await blocks.put(cid, bytes, { ...o, verified: true }) }
      }
    })
    // k = 3 with a quorum of 1: a lone node's adds succeed, and report the copies missing
    const replicas = new BlockReplicaService({ libp2p, store, membership, sessions, fetcher, policy: new ReplicationPolicy({ k: 3, writeQuorum: 1 }) })
    const files = new Files({ store, fetcher, replicas, logger: silentLogger })
    return { files, store }
  }

  it('add stores, pins and reports; cat gives the bytes back (whole and ranges)', async () => {
    const { files } = await open()
    const bytes = crypto.randomBytes(3 * CHUNK + 1000)
    const events: AddProgress[] = []
    const r = await files.add(of(bytes), { onProgress: e => { events.push(e) } })
    assert.equal(r.cid, (await importFile(bytes, nullSink)).cid.toString())
    assert.equal(r.size, bytes.length)
    assert.equal(r.blocks, 5)
    assert.deepEqual(r.replication, { blocks: 5, k: 3, quorum: 1, replicas: [0, 5, 0, 0], short: 0, reachable: 1 })
    const read = events.flatMap(e => e.type === 'import:read' ? [e.detail.bytes] : [])
    assert.ok(read.length >= 4)
    assert.equal(read.at(-1), bytes.length)
    const stored = events.flatMap(e => e.type === 'add:stored' ? [e.detail] : [])
    assert.deepEqual(stored.map(s => s.blocks), [1, 2, 3, 4, 5])
    assert.ok(stored[4].bytes > bytes.length, 'the leaves and the root node')
    assert.ok(events.some(e => e.type === 'replicate:confirmed'))
    assert.deepEqual((await files.pins()).map(p => [p.cid, p.mode, p.blocks]), [[r.cid, 'recursive', 5]])
    assert.ok((await collect(files.cat(r.cid))).equals(bytes))
    assert.ok((await collect(files.cat(r.cid, { offset: CHUNK - 10, length: 20 }))).equals(bytes.subarray(CHUNK - 10, CHUNK + 10)))
  })

  it('add with freeInput (as the RPC route adds a raw upload) frees the pieces it copied into blocks, and gives the same CID', async () => {
    const { files } = await open()
    const bytes = crypto.randomBytes(3 * CHUNK + 1000)
    const pieces: Uint8Array[] = []
    // (each a buffer of its own, as an HTTP body's pieces are: Buffer#slice would share one)
    for (let at = 0; at < bytes.length; at += 65536 + 123) pieces.push(new Uint8Array(bytes.subarray(at, at + 65536 + 123)))
    const r = await files.add(of(...pieces), { freeInput: true })
    assert.equal(r.cid, (await importFile(bytes, nullSink)).cid.toString())
    assert.ok(pieces.slice(0, -1).every(p => p.byteLength === 0), 'the pieces copied into blocks were freed')
    assert.ok((await collect(files.cat(r.cid))).equals(bytes))
  })

  it('stat, ls and the replica status of a lone node', async () => {
    const { files } = await open()
    const r = await files.addDirectory(of<DirectoryEntryInput>(
      { path: 'a.txt', content: [Buffer.from('a')] },
      { path: 'd/b.bin', content: [crypto.randomBytes(CHUNK + 1)] }
    ))
    const ls = await files.ls(r.cid)
    assert.deepEqual(ls.map(e => [e.name, e.type]), [['a.txt', 'raw'], ['d', 'directory']])
    const stat = await files.stat(r.cid)
    assert.equal(stat.type, 'directory')
    // root, d, a.txt, b.bin's root and its two leaves: each held here (1 confirmed replica), k = 3
    assert.deepEqual(stat.replicas, { k: 3, blocks: 6, histogram: [0, 6, 0, 0], rootHolders: [libp2p.peerId.toString()] })
    const file = await files.stat(ls[1].cid.toString(), { replicas: false })
    assert.equal(file.replicas, undefined)
    await assert.rejects(files.ls('nope'), InvalidCidError)
    await assert.rejects(files.stat((await leafCid(crypto.randomBytes(10))).toString()), BlockNotFoundError)
  })

  it('repoStat follows adds, unpins and gc; gc frees an unpinned add and keeps a pinned one', async () => {
    const { files } = await open()
    const empty = await files.repoStat()
    assert.equal(empty.blocks, 0)
    assert.equal(empty.bytes, 0)
    assert.equal(empty.pins, 0)
    assert.ok(empty.freeBytes > 0 && empty.totalBytes >= empty.freeBytes)

    const kept = crypto.randomBytes(2 * CHUNK)
    const dropped = crypto.randomBytes(CHUNK + 7)
    const a = await files.add(of(kept))
    const b = await files.add(of(dropped), { pin: false })
    const after = await files.repoStat()
    assert.equal(after.blocks, a.blocks + b.blocks)
    assert.ok(after.bytes > kept.length + dropped.length, String(after.bytes)) // leaves plus the two roots
    assert.equal(after.pins, 1)

    const gc = await files.gc()
    assert.equal(gc.removedBlocks, b.blocks)
    assert.ok(gc.freedBytes > dropped.length)
    assert.equal((await files.repoStat()).blocks, a.blocks)
    assert.ok((await collect(files.cat(a.cid))).equals(kept))
    await assert.rejects(collect(files.cat(b.cid)), BlockNotFoundError)

    await files.unpin(a.cid)
    await assert.rejects(files.unpin(a.cid), NotPinnedError)
    assert.equal((await files.repoStat()).pins, 0)
    assert.equal((await files.gc()).removedBlocks, a.blocks)
    // the disk's free bytes move with whatever else writes to it: the rest must be as before
    assert.deepEqual({ ...await files.repoStat(), freeBytes: empty.freeBytes }, empty)
  })

  it('pin of a CID that is stored unpinned pins it; of one not stored fails fast with BlockNotFoundError', async () => {
    const { files } = await open()
    const r = await files.add(of(crypto.randomBytes(CHUNK * 2)), { pin: false })
    const pin = await files.pin(r.cid)
    assert.deepEqual(pin, { cid: r.cid, blocks: 3, bytes: pin.bytes })
    assert.equal((await files.gc()).removedBlocks, 0)
    const missing = (await leafCid(crypto.randomBytes(99))).toString()
    const started = Date.now()
    await assert.rejects(files.pin(missing), BlockNotFoundError)
    assert.ok(Date.now() - started < 5000)
    assert.deepEqual((await files.pins()).map(p => p.cid), [r.cid])
  })

  describe('gc while an add is writing', () => {
    for (const kind of ['new blocks', 'blocks already stored unpinned (deduplicated)'] as const) {
      it(`never removes them: ${kind}`, async () => {
        const { files, store } = await open()
        const bytes = crypto.randomBytes(4 * CHUNK)
        if (kind !== 'new blocks') await files.add(of(bytes), { pin: false })
        const first = await leafCid(bytes.subarray(0, CHUNK))
        const g = gate()
        const adding = files.add(slowSource(bytes, 2 * CHUNK, g.opened))
        // the add has written (or found) its first leaf and is waiting for more input
        const deadline = Date.now() + 5000
        while (!(await store.blocks.has(first)) && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
        assert.ok(await store.blocks.has(first))
        const collecting = files.gc()
        assert.equal(await settled(collecting, 300), false, 'gc ran while the add was writing')
        assert.ok(await store.blocks.has(first))
        g.open()
        const r = await adding
        const gc = await collecting
        assert.equal(gc.removedBlocks, 0)
        assert.ok((await collect(files.cat(r.cid))).equals(bytes))
        assert.deepEqual((await files.pins()).map(p => p.cid), [r.cid])
      })
    }
  })

  describe('a full disk (injected ENOSPC after some blocks)', () => {
    it('the add fails with DiskFullError, nothing is pinned or left in tmp/, reads go on, and after gc the next add works', async () => {
      let full = false
      let writes = 0
      const { files, store } = await open({
        writeTempFile: async (file, bytes, options) => {
          if (full && ++writes > 3) {
            await fs.writeFile(file, bytes.subarray(0, 1000)) // a torn write, as a real full disk leaves it
            throw enospc()
          }
          await writeTempFile(file, bytes, options)
        }
      })
      const before = crypto.randomBytes(CHUNK + 5)
      const kept = await files.add(of(before))
      full = true
      await assert.rejects(files.add(of(crypto.randomBytes(16 * CHUNK))), (err: unknown) => {
        assert.ok(err instanceof DiskFullError, String(err))
        assert.equal(err.code, 'ERR_DISK_FULL')
        assert.match(err.message, /the disk is full \(ENOSPC\)/)
        return true
      })
      assert.deepEqual((await files.pins()).map(p => p.cid), [kept.cid])
      assert.deepEqual(await fs.readdir(path.join(dir, 'tmp')), [])
      assert.ok((await collect(files.cat(kept.cid))).equals(before))
      // the store's index agrees with the disk: the failed add's whole blocks are there, unpinned
      const stat = await files.repoStat()
      assert.equal(stat.blocks, kept.blocks + 3)
      full = false
      assert.equal((await files.gc()).removedBlocks, 3)
      assert.equal(store.metadata.stat('blocks'), kept.blocks)
      const next = crypto.randomBytes(3 * CHUNK)
      const r = await files.add(of(next))
      assert.ok((await collect(files.cat(r.cid))).equals(next))
    })
  })

  it('an aborted add pins nothing, leaves no temp files and ends its write session', async () => {
    const { files } = await open()
    const controller = new AbortController()
    const g = gate()
    const bytes = crypto.randomBytes(4 * CHUNK)
    const adding = files.add(slowSource(bytes, 2 * CHUNK, g.opened), {
      signal: controller.signal,
      onProgress: e => { if (e.type === 'import:read' && e.detail.bytes >= CHUNK) controller.abort() }
    })
    setTimeout(g.open, 200)
    await assert.rejects(adding, (err: any) => {
      assert.ok(err.code === 'ERR_ABORTED' || err.name === 'AbortError', String(err))
      return true
    })
    assert.deepEqual(await files.pins(), [])
    assert.deepEqual(await fs.readdir(path.join(dir, 'tmp')), [])
    assert.equal(await settled(files.gc(), 2000), true, 'gc waits: the aborted add still holds its session')
  })
})

describe('node/Files on two nodes', function () {
  this.timeout(30_000)
  let net: TestNetwork | undefined
  before(async () => {
    net = await startNetwork(2)
    await waitForMembership(net.nodes)
  })
  after(async () => { await net?.stop() })

  /** Stores a file on `node` only (no replication) and pins it there. */
  async function storeOnly (node: ShoalNode, bytes: Uint8Array): Promise<string> {
    const root = await node.store.writeSession(async () => {
      const r = await importFile(bytes, { put: async (cid, b) => { await node.store.blocks.put(cid, b) } })
      await node.store.pin(r.cid)
      return r.cid
    })
    return root.toString()
  }

  for (const recursive of [true, false]) {
    it(`pin ${recursive ? 'recursive' : 'direct'} of a CID held only by the other node fetches what it needs first`, async () => {
      const [a, b] = (net as TestNetwork).nodes
      const bytes = crypto.randomBytes(3 * CHUNK)
      const cid = await storeOnly(a, bytes)
      assert.equal(await b.store.blocks.has(CID.parse(cid)), false)
      const pin = await b.files.pin(cid, { recursive })
      assert.equal(pin.cid, cid)
      assert.equal(pin.blocks, recursive ? 4 : 1)
      assert.equal((await b.files.pins()).find(p => p.cid === cid)?.mode, recursive ? 'recursive' : 'direct')
      assert.equal(await b.store.blocks.has(CID.parse(cid)), true)
    })
  }

  it('exportCar reads from the network what is not stored here: the same CAR as the node that holds it', async () => {
    const [a, b] = (net as TestNetwork).nodes
    const cid = await storeOnly(a, crypto.randomBytes(3 * CHUNK))
    const here = await collect(a.files.exportCar(cid))
    const there = await collect(b.files.exportCar(cid))
    assert.ok(there.equals(here))
    assert.ok(here.length > 3 * CHUNK)
  })

  it('importCar replicates the blocks as an add does: the other node gets every block, each confirmed twice', async () => {
    const [a, b] = (net as TestNetwork).nodes
    // a CAR of blocks neither node holds
    const blocks = new Map<string, Uint8Array>()
    const root = (await importFile(crypto.randomBytes(3 * CHUNK + 5), { put: async (cid, bytes) => { blocks.set(cid.toString(), bytes) } })).cid
    const car = await collect(exportCar(async cid => blocks.get(cid.toString()) as Uint8Array, root))
    const r = await b.files.importCar(of(car))
    assert.deepEqual(r.roots, [root.toString()])
    assert.equal(r.blocks, 5)
    assert.equal(r.replication.short, 0)
    assert.equal(r.replication.replicas[2], 5, 'two confirmed copies of every block (k = 3, two nodes)')
    for (const cid of blocks.keys()) assert.equal(await a.store.blocks.has(CID.parse(cid)), true, `${cid} pushed to the other node`)
  })
})
