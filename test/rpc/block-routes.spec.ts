import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import path from 'node:path'
import { CarReader } from '@ipld/car'
import * as CarBufferWriter from '@ipld/car/buffer-writer'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { childLinks } from '../../src/content/blocks.ts'
import { assertJsonError, filesIn, memoryLogger, startTestDaemon } from '../helpers/daemon.ts'
import type { HttpReply, TestDaemon } from '../helpers/daemon.ts'

const KIB = 1024

/** The CAR's blocks as @ipld/car reads them. */
async function carBlocks (bytes: Uint8Array): Promise<{ roots: CID[], blocks: Array<{ cid: CID, bytes: Uint8Array }> }> {
  const reader = await CarReader.fromBytes(bytes)
  const blocks = []
  for await (const b of reader.blocks()) blocks.push(b)
  return { roots: await reader.getRoots(), blocks }
}

/** A CAR v1 header (by @ipld/car), to put together CARs the export would never write. */
function carHeader (roots: CID[]): Uint8Array {
  return CarBufferWriter.createWriter(new ArrayBuffer(CarBufferWriter.headerLength({ roots })), { roots }).close()
}

/** A CAR section: varint length, CID, bytes (written by hand, to make bad CARs). */
function section (cid: CID, bytes: Uint8Array): Buffer {
  const body = Buffer.concat([cid.bytes, bytes])
  const len: number[] = []
  let n = body.length
  while (n >= 0x80) { len.push((n & 0x7f) | 0x80); n >>>= 7 }
  len.push(n)
  return Buffer.concat([Buffer.from(len), body])
}

describe('block routes: dag import/export, block get/put/stat, refs', function () {
  this.timeout(60_000)
  let a: TestDaemon
  let b: TestDaemon
  const log = memoryLogger()
  /** a 1 MiB + a bit file on `a`: 5 leaves under one root */
  let file: Buffer
  let fileCid: string
  let tree: string

  before(async () => {
    [a, b] = await Promise.all([startTestDaemon({ logger: log }), startTestDaemon()])
    file = crypto.randomBytes(1024 * KIB + 100)
    const added = await a.request('/api/v1/add', { method: 'POST', body: file })
    fileCid = added.json.cid
    const boundary = 'xyz'
    const part = (p: string, content: string): string => `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${encodeURIComponent(p)}"\r\nContent-Type: application/octet-stream\r\n\r\n${content}\r\n`
    const body = Buffer.from(part('d/x.txt', 'x marks it') + part('d/y.txt', 'why') + part('z.txt', 'zed') + `--${boundary}--\r\n`)
    tree = (await a.request('/api/v1/add', { method: 'POST', body, headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` } })).json.cid
  })
  after(async () => { await Promise.all([a?.stop(), b?.stop()]) })

  const exportCar = async (d: TestDaemon, target: string, query = ''): Promise<HttpReply> => await d.request(`/api/v1/dag/export/${target}${query === '' ? '' : `?${query}`}`)
  const importCar = async (d: TestDaemon, body: Uint8Array, query = ''): Promise<HttpReply> =>
    await d.request(`/api/v1/dag/import${query === '' ? '' : `?${query}`}`, { method: 'POST', body, headers: { 'Content-Type': 'application/vnd.ipld.car' } })
  const has = async (d: TestDaemon, cid: CID): Promise<boolean> => await d.daemon.node.store.blocks.has(cid)

  describe('GET /api/v1/dag/export/CID', () => {
    it('answers the CAR (root in the header, depth first) with a CAR content type', async () => {
      const reply = await exportCar(a, fileCid)
      assert.equal(reply.status, 200, reply.body.toString())
      assert.match(String(reply.headers['content-type']), /^application\/vnd\.ipld\.car; version=1/)
      const car = await carBlocks(reply.body)
      assert.deepEqual(car.roots.map(String), [fileCid])
      assert.equal(car.blocks[0].cid.toString(), fileCid)
      assert.deepEqual(car.blocks.slice(1).map(x => x.cid.toString()), childLinks(car.blocks[0].cid, car.blocks[0].bytes).map(String))
    })

    it('takes a path, dag-scope and entity-bytes', async () => {
      const x = await carBlocks((await exportCar(a, `${tree}/d/x.txt`)).body)
      assert.equal(x.blocks.length, 3, 'the root, d, and x.txt')
      assert.deepEqual(x.blocks[2].bytes, Buffer.from('x marks it'))
      const d = await carBlocks((await exportCar(a, `${tree}/d`, 'dag-scope=block')).body)
      assert.equal(d.blocks.length, 2)
      const range = await carBlocks((await exportCar(a, fileCid, 'entity-bytes=0:99')).body)
      assert.equal(range.blocks.length, 2, 'the root and the first leaf')
    })

    it('a missing root, a missing path, a bad CID or bad options: a JSON error, not a CAR', async () => {
      const nobody = CID.createV1(raw.code, await sha256.digest(crypto.randomBytes(16))).toString()
      assertJsonError(await exportCar(a, nobody), 404, 'ERR_BLOCK_NOT_FOUND')
      assertJsonError(await exportCar(a, `${tree}/nope`), 404, 'ERR_PATH_NOT_FOUND')
      assertJsonError(await exportCar(a, 'not-a-cid'), 400, 'ERR_INVALID_CID')
      assertJsonError(await exportCar(a, fileCid, 'dag-scope=most'), 400, 'ERR_INVALID_ARGUMENT', /dag-scope/)
      assertJsonError(await exportCar(a, fileCid, 'entity-bytes=9:1'), 400, 'ERR_INVALID_ARGUMENT', /entity-bytes/)
    })
  })

  describe('POST /api/v1/dag/import', () => {
    it('imports an export into an empty node: the same root and bytes, the root pinned', async () => {
      const car = (await exportCar(a, tree)).body
      const reply = await importCar(b, car)
      assert.equal(reply.status, 200, reply.body.toString())
      assert.deepEqual(reply.json.roots, [tree])
      assert.equal(reply.json.pinned, true)
      assert.equal(reply.json.blocks, (await carBlocks(car)).blocks.length)
      assert.equal(reply.json.replication.short, 0)
      assert.ok((await b.rpc('pin.ls')).some((p: { cid: string }) => p.cid === tree))
      assert.deepEqual((await b.request(`/api/v1/cat/${tree}`)).status, 400, 'a directory')
      const ls = await b.rpc('content.ls', { cid: tree })
      assert.deepEqual(ls.map((e: { name: string }) => e.name), ['d', 'z.txt'])
      assert.deepEqual((await exportCar(b, tree)).body, car, 'and it exports the same CAR')
      assert.deepEqual(await filesIn(path.join(b.repo, 'spool')), [], 'the spool is emptied')
    })

    it('pin-roots=false stores without pinning', async () => {
      const car = (await exportCar(a, fileCid)).body
      const reply = await importCar(b, car, 'pin-roots=false')
      assert.equal(reply.status, 200, reply.body.toString())
      assert.equal(reply.json.pinned, false)
      assert.ok(!(await b.rpc('pin.ls')).some((p: { cid: string }) => p.cid === fileCid))
      assert.equal(await has(b, CID.parse(fileCid)), true)
    })

    it('refuses a CAR with one block that does not match its CID and stores nothing of it', async () => {
      const held = (await carBlocks((await exportCar(a, tree)).body)).blocks[0] // b holds the tree already
      assert.equal(await has(b, held.cid), true)
      const fresh = await Promise.all([1, 2, 3].map(async () => {
        const bytes = crypto.randomBytes(2000)
        return { cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes }
      }))
      const liar = { cid: CID.createV1(raw.code, await sha256.digest(Buffer.from('the truth'))), bytes: Buffer.from('a lie') }
      const body = Buffer.concat([carHeader([fresh[0].cid]), section(held.cid, held.bytes), ...fresh.map(f => section(f.cid, f.bytes)), section(liar.cid, liar.bytes)])
      const reply = await importCar(b, body)
      assertJsonError(reply, 400, 'ERR_INVALID_CAR', /block 5 .* does not match its CID/)
      for (const f of fresh) assert.equal(await has(b, f.cid), false, `${f.cid} was not stored`)
      assert.equal(await has(b, liar.cid), false)
      assert.equal(await has(b, held.cid), true, 'what it held before stays')
      assert.deepEqual(await filesIn(path.join(b.repo, 'spool')), [])
    })

    it('refuses a CAR cut short, and bytes that are not a CAR, storing nothing', async () => {
      const fresh = crypto.randomBytes(50_000)
      const added = await a.request('/api/v1/add?chunker=size-10000', { method: 'POST', body: fresh })
      const other = (await exportCar(a, added.json.cid)).body
      const cut = await importCar(b, other.subarray(0, other.length - 5000))
      assertJsonError(cut, 400, 'ERR_INVALID_CAR', /cut short/)
      for (const x of (await carBlocks(other)).blocks) assert.equal(await has(b, x.cid), false)
      assertJsonError(await importCar(b, Buffer.from('hello, this is not a CAR at all')), 400, 'ERR_INVALID_CAR')
      assertJsonError(await importCar(b, new Uint8Array()), 400, 'ERR_INVALID_CAR', /empty/)
    })

    it('a CAR that does not hold its root\'s whole DAG: stored, but the pin fails and says so', async () => {
      const added = await a.request('/api/v1/add', { method: 'POST', body: crypto.randomBytes(600 * KIB) })
      const partial = (await exportCar(a, added.json.cid, 'dag-scope=block')).body
      assertJsonError(await importCar(b, partial), 404, 'ERR_BLOCK_NOT_FOUND', /incomplete/)
    })
  })

  describe('blocks', () => {
    it('put computes the CID (raw by default, dag-pb on request), get gives the bytes back, stat says size and codec', async () => {
      const bytes = crypto.randomBytes(3000)
      const put = await a.request('/api/v1/block/put', { method: 'POST', body: bytes })
      assert.equal(put.status, 200, put.body.toString())
      const expected = CID.createV1(raw.code, await sha256.digest(bytes)).toString()
      assert.equal(put.json.cid, expected)
      assert.equal(put.json.size, 3000)
      const got = await a.request(`/api/v1/block/get/${expected}`)
      assert.equal(got.status, 200)
      assert.equal(got.headers['content-type'], 'application/vnd.ipld.raw')
      assert.deepEqual(got.body, bytes)
      assert.deepEqual(await a.rpc('block.stat', { cid: expected }), { cid: expected, size: 3000, codec: 'raw' })
      const node = dagPb.encode({ Links: [{ Hash: CID.parse(expected), Name: 'a', Tsize: 3000 }] })
      const pb = await a.request('/api/v1/block/put?cid-codec=dag-pb&pin=true', { method: 'POST', body: node })
      assert.equal(pb.status, 200, pb.body.toString())
      assert.equal(pb.json.cid, CID.createV1(dagPb.code, await sha256.digest(node)).toString())
      assert.deepEqual((await a.rpc('block.stat', { cid: pb.json.cid })).codec, 'dag-pb')
      assert.ok((await a.rpc('pin.ls')).some((p: { cid: string }) => p.cid === pb.json.cid))
    })

    it('put refuses bytes that are not dag-pb as dag-pb, an unknown codec and a block over 2 MiB', async () => {
      assertJsonError(await a.request('/api/v1/block/put?cid-codec=dag-pb', { method: 'POST', body: Buffer.from('not protobuf at all \xff\xff') }), 400, 'ERR_INVALID_ARGUMENT', /dag-pb/)
      assertJsonError(await a.request('/api/v1/block/put?cid-codec=dag-cbor', { method: 'POST', body: Buffer.from('x') }), 400, 'ERR_INVALID_ARGUMENT', /cid-codec/)
      const big = crypto.randomBytes(2 * 1024 * KIB + 1)
      assertJsonError(await a.request('/api/v1/block/put', { method: 'POST', body: big }), 400, 'ERR_INVALID_ARGUMENT', /limit/)
      assert.equal(await has(a, CID.createV1(raw.code, await sha256.digest(big))), false)
    })

    it('get and stat of a block nobody has: 404 / ERR_BLOCK_NOT_FOUND', async () => {
      const nobody = CID.createV1(raw.code, await sha256.digest(crypto.randomBytes(16))).toString()
      assertJsonError(await a.request(`/api/v1/block/get/${nobody}`), 404, 'ERR_BLOCK_NOT_FOUND')
      await assert.rejects(a.rpc('block.stat', { cid: nobody }), (err: { data?: { code?: string } }) => err.data?.code === 'ERR_BLOCK_NOT_FOUND')
    })
  })

  describe('content.refs', () => {
    it('the root\'s links; with recursive every link below; unique lists each once', async () => {
      const car = await carBlocks((await exportCar(a, tree)).body)
      const root = car.blocks[0]
      assert.deepEqual(await a.rpc('content.refs', { cid: tree }), childLinks(root.cid, root.bytes).map(String))
      const all = await a.rpc('content.refs', { cid: tree, recursive: true, unique: true })
      assert.deepEqual(all, car.blocks.slice(1).map(x => x.cid.toString()), 'every block but the root, depth first')
      const one = await a.rpc('content.refs', { cid: tree, recursive: true, maxDepth: 1 })
      assert.deepEqual(one, childLinks(root.cid, root.bytes).map(String))
      await assert.rejects(a.rpc('content.refs', { cid: tree, recursive: true, maxDepth: 0 }), /max-depth/)
    })

    it('without unique a block linked twice is listed twice', async () => {
      // 4 identical 256 KiB chunks: one leaf, linked four times
      const same = Buffer.alloc(1024 * KIB, 7)
      const cid = (await a.request('/api/v1/add', { method: 'POST', body: same })).json.cid
      const refs = await a.rpc('content.refs', { cid, recursive: true })
      assert.equal(refs.length, 4)
      assert.equal(new Set(refs).size, 1)
      assert.deepEqual(await a.rpc('content.refs', { cid, recursive: true, unique: true }), [refs[0]])
    })
  })

  describe('with a write quorum the node cannot meet', () => {
    let lone: TestDaemon
    before(async () => { lone = await startTestDaemon({ config: { replicas: 3, quorum: 2 } }) })
    after(async () => { await lone?.stop() })

    it('import and block put fail as an add does: ERR_QUORUM with the copies, the data kept here', async () => {
      const car = (await exportCar(a, tree)).body
      const reply = await importCar(lone, car)
      assertJsonError(reply, 503, 'ERR_QUORUM', /fewer than the 2 confirmed copies/)
      assert.equal(reply.json.error.details.replication.short, (await carBlocks(car)).blocks.length)
      assert.ok((await lone.rpc('pin.ls')).some((p: { cid: string }) => p.cid === tree), 'pinned here all the same')
      assertJsonError(await lone.request('/api/v1/block/put', { method: 'POST', body: Buffer.from('one block') }), 503, 'ERR_QUORUM')
    })
  })

  describe('afterwards', () => {
    it('the daemon logged no failure of its own', () => {
      assert.deepEqual(log.lines.filter(l => l.startsWith('error')), [])
    })
  })
})
