import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { CarReader } from '@ipld/car'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { childLinks } from '../../src/content/blocks.ts'
import { entityRange, exportCar, parseEntityBytes, readCar } from '../../src/content/car.ts'
import type { ExportCarOptions } from '../../src/content/car.ts'
import { cat, ls } from '../../src/content/exporter.ts'
import { importDirectory, importFile } from '../../src/content/importer.ts'
import type { DirectoryEntryInput } from '../../src/content/importer.ts'
import { resolvePath } from '../../src/content/path.ts'
import { MemoryBlocks, collect, concatStream, keystream, rejectsWith, text } from './helpers.ts'

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'content', 'export-v1.car')

async function * entries (list: DirectoryEntryInput[]): AsyncGenerator<DirectoryEntryInput> {
  yield * list
}

/** The CAR `exportCar` writes, whole. */
async function carBytes (store: MemoryBlocks, root: CID, options: ExportCarOptions = {}): Promise<Uint8Array> {
  return await concatStream(exportCar(async (cid, o) => await store.get(cid, o), root, options))
}

/** The CAR read back with @ipld/car's own reader: its roots and its blocks in order. */
async function decoded (bytes: Uint8Array): Promise<{ roots: CID[], blocks: Array<{ cid: CID, bytes: Uint8Array }> }> {
  const reader = await CarReader.fromBytes(bytes)
  return { roots: await reader.getRoots(), blocks: await collect(reader.blocks()) }
}

/**
 * The reference order, written out plainly: depth first, links in order,
 * a block met before skipped with its subtree (by CID string, as Kubo's
 * "links only once").
 */
async function referenceOrder (store: MemoryBlocks, root: CID): Promise<string[]> {
  const out: string[] = []
  const seen = new Set<string>()
  const visit = async (cid: CID): Promise<void> => {
    if (seen.has(cid.toString())) return
    seen.add(cid.toString())
    out.push(cid.toString())
    for (const link of childLinks(cid, await store.get(cid))) await visit(link)
  }
  await visit(root)
  return out
}

function fileNode (bytes: Uint8Array): { node: dagPb.PBNode, unixfs: UnixFS } {
  const node = dagPb.decode(bytes)
  return { node, unixfs: UnixFS.unmarshal(node.Data as Uint8Array) }
}

describe('content/car', function () {
  this.timeout(60_000)

  describe('export', () => {
    const store = new MemoryBlocks()
    // 600 leaves of 1 KiB: a root over 4 nodes over the leaves (174 links per node)
    const big = keystream('car-big', 600 * 1024)
    const zeros = new Uint8Array(5 * 1024)
    let file: CID
    let tree: CID

    before(async () => {
      file = (await importFile([big], store, { chunker: 'size-1024' })).cid
      tree = (await importDirectory(entries([
        { path: 'a/big.bin', content: [big] },
        { path: 'a/copy.bin', content: [big] },
        { path: 'a/zeros.bin', content: [zeros] },
        { path: 'b/hello.txt', content: [text('hello')] },
        { path: 'empty' }
      ]), store, { chunker: 'size-1024' })).cid
    })

    it('writes a CAR v1 naming the root, with blocks depth first and each once, as @ipld/car reads it', async () => {
      const car = await decoded(await carBytes(store, tree))
      assert.deepEqual(car.roots.map(String), [tree.toString()])
      const order = car.blocks.map(b => b.cid.toString())
      assert.deepEqual(order, await referenceOrder(store, tree))
      assert.equal(new Set(order).size, order.length, 'each block once')
      // the file's blocks are shared by big.bin and copy.bin; zeros.bin's leaves are one block 5 times
      const fileBlocks = await referenceOrder(store, file)
      assert.ok(fileBlocks.length > 600)
      for (const b of car.blocks) assert.deepEqual(b.bytes, await store.get(b.cid))
    })

    it('round-trips: export, then read into an empty store, gives the same root and bytes', async () => {
      const bytes = await carBytes(store, tree)
      const empty = new MemoryBlocks()
      const car = await readCar((async function * () { for (let i = 0; i < bytes.length; i += 1000) yield bytes.subarray(i, i + 1000) })())
      assert.deepEqual(car.roots.map(String), [tree.toString()])
      for await (const b of car.blocks) await empty.put(b.cid, b.bytes)
      const [a] = (await collect(ls(tree, empty))).filter(e => e.name === 'a')
      const big2 = (await collect(ls(a.cid, empty))).find(e => e.name === 'copy.bin')
      assert.ok(big2 != null)
      assert.deepEqual(await concatStream(cat(big2.cid, empty)), big)
      assert.deepEqual(await carBytes(empty, tree), bytes, 'the same CAR again')
    })

    it('with a path: the blocks that resolve it, then the terminal entity', async () => {
      const car = await decoded(await carBytes(store, tree, { path: 'a/big.bin' }))
      assert.deepEqual(car.roots.map(String), [tree.toString()], 'the header names the root asked for')
      const a = (await collect(ls(tree, store))).find(e => e.name === 'a')
      const order = car.blocks.map(b => b.cid.toString())
      assert.deepEqual(order, [tree.toString(), String(a?.cid), ...await referenceOrder(store, file)])
      await rejectsWith(carBytes(store, tree, { path: 'a/nothing' }), 'PathNotFoundError', /nothing/)
      await rejectsWith(carBytes(store, tree, { path: 'b/hello.txt/deeper' }), 'PathNotFoundError')
    })

    it('dag-scope=block: the path blocks and the terminal block only', async () => {
      const car = await decoded(await carBytes(store, tree, { path: 'a', dagScope: 'block' }))
      const a = (await collect(ls(tree, store))).find(e => e.name === 'a')
      assert.deepEqual(car.blocks.map(b => b.cid.toString()), [tree.toString(), String(a?.cid)])
    })

    it('dag-scope=entity: a whole file, but a directory without its entries', async () => {
      const dir = await decoded(await carBytes(store, tree, { path: 'a', dagScope: 'entity' }))
      assert.equal(dir.blocks.length, 2)
      const f = await decoded(await carBytes(store, tree, { path: 'a/big.bin', dagScope: 'entity' }))
      assert.deepEqual(f.blocks.slice(2).map(b => b.cid.toString()), await referenceOrder(store, file))
    })

    it('entity-bytes: only the nodes and leaves that hold the range, enough to read it', async () => {
      const rootBytes = await store.get(file)
      const { node, unixfs } = fileNode(rootBytes)
      assert.equal(node.Links.length, 4, 'a root over 4 nodes')
      assert.equal(Number(unixfs.blockSizes[0]), 174 * 1024)
      // bytes 200*1024+5 .. 201*1024+10: leaves 200 and 201, under the second node (leaves 174..347)
      const from = 200 * 1024 + 5
      const to = 201 * 1024 + 10
      const second = node.Links[1].Hash
      const leaves = dagPb.decode(await store.get(second)).Links
      const car = await decoded(await carBytes(store, file, { entityBytes: { from, to } }))
      assert.deepEqual(car.blocks.map(b => b.cid.toString()), [file, second, leaves[200 - 174].Hash, leaves[201 - 174].Hash].map(String))
      // the CAR alone is enough to read the range
      const only = new MemoryBlocks()
      for (const b of car.blocks) await only.put(b.cid, b.bytes)
      assert.deepEqual(await concatStream(cat(file, only, { offset: from, length: to - from + 1 })), big.subarray(from, to + 1))
    })

    it('entity-bytes from the end, past the end, and outside the file', async () => {
      const { node } = fileNode(await store.get(file))
      const last = node.Links[3].Hash
      const lastLeaves = dagPb.decode(await store.get(last)).Links
      // the last 1500 bytes: the last two leaves
      const tail = await decoded(await carBytes(store, file, { entityBytes: { from: -1500 } }))
      assert.deepEqual(tail.blocks.map(b => b.cid.toString()), [file, last, ...lastLeaves.slice(-2).map(l => l.Hash)].map(String))
      // a range that runs past the end: what is inside
      const over = await decoded(await carBytes(store, file, { entityBytes: { from: 599 * 1024, to: 10_000_000 } }))
      assert.deepEqual(over.blocks.map(b => b.cid.toString()), [file, last, lastLeaves.at(-1)?.Hash].map(String))
      // wholly outside, or empty: as dag-scope=block
      for (const entityBytes of [{ from: 700 * 1024 }, { from: 10, to: -600 * 1024 }]) {
        const none = await decoded(await carBytes(store, file, { entityBytes }))
        assert.deepEqual(none.blocks.map(b => b.cid.toString()), [file.toString()])
      }
      // on a directory it is ignored: the entity
      const dir = await decoded(await carBytes(store, tree, { path: 'a', entityBytes: { from: 0, to: 10 } }))
      assert.equal(dir.blocks.length, 2)
    })

    it('parses entity-bytes as the spec writes it and clamps it to the file', () => {
      assert.deepEqual(parseEntityBytes('0:*'), { from: 0 })
      assert.deepEqual(parseEntityBytes('-1024:*'), { from: -1024 })
      assert.deepEqual(parseEntityBytes('499:-1000'), { from: 499, to: -1000 })
      assert.throws(() => parseEntityBytes('5:3'), /before the first/)
      assert.throws(() => parseEntityBytes('a:b'), /FROM:TO/)
      assert.deepEqual(entityRange({ from: 499, to: -1000 }, 3000), { start: 499, end: 2001 })
      assert.deepEqual(entityRange({ from: -1024 }, 100), { start: 0, end: 100 })
      assert.equal(entityRange({ from: 499, to: -1000 }, 1000), undefined)
    })

    it('fails before the first byte when the root is missing, and says which block', async () => {
      const missing = CID.createV1(raw.code, await sha256.digest(text('nobody has me')))
      const chunks = exportCar(async (cid, o) => await store.get(cid, o), missing)
      await rejectsWith(chunks.next(), 'BlockNotFoundError')
    })
  })

  describe('a HAMT directory', function () {
    this.timeout(120_000)
    const store = new MemoryBlocks()
    // long names: the directory shards (over 256 KiB of links) with sub-shards
    const name = (i: number): string => `${String(i).padStart(4, '0')}-${'x'.repeat(220)}`
    let root: CID
    let dir: CID

    before(async () => {
      const list: DirectoryEntryInput[] = []
      for (let i = 0; i < 1300; i++) list.push({ path: `d/${name(i)}`, content: [text(`entry ${i}`)] })
      root = (await importDirectory(entries(list), store)).cid
      dir = (await collect(ls(root, store)))[0].cid
    })

    it('a path through it carries the shards on the way, enough to resolve it again', async () => {
      const car = await decoded(await carBytes(store, root, { path: `d/${name(777)}` }))
      const shardsOnTheWay = car.blocks.slice(1, -1)
      assert.ok(shardsOnTheWay.length >= 2, 'the shard and a sub-shard')
      assert.equal(shardsOnTheWay[0].cid.toString(), dir.toString())
      const only = new MemoryBlocks()
      for (const b of car.blocks) await only.put(b.cid, b.bytes)
      const resolved = await resolvePath(root, ['d', name(777)], only)
      assert.deepEqual(await store.get(resolved.cid), text('entry 777'))
      assert.equal(car.blocks.at(-1)?.cid.toString(), resolved.cid.toString())
    })

    it('dag-scope=entity lists it: every shard, no entry', async () => {
      const car = await decoded(await carBytes(store, root, { path: 'd', dagScope: 'entity' }))
      const shards = car.blocks.slice(1)
      assert.ok(shards.length > 2)
      for (const b of shards) {
        assert.equal(b.cid.code, dagPb.code)
        assert.equal(fileNode(b.bytes).unixfs.type, 'hamt-sharded-directory')
      }
      // every shard of the tree: the whole DAG's dag-pb blocks minus the root directory
      const all = await decoded(await carBytes(store, root, { path: 'd' }))
      assert.equal(shards.length, all.blocks.filter(b => b.cid.code === dagPb.code).length - 1)
      assert.equal(all.blocks.length - 1, shards.length + 1300)
    })
  })

  describe('readCar', () => {
    const store = new MemoryBlocks()
    let good: Uint8Array
    let root: CID

    before(async () => {
      root = (await importFile([keystream('car-read', 5000)], store, { chunker: 'size-1024' })).cid
      good = await carBytes(store, root)
    })

    const read = async (bytes: Uint8Array): Promise<number> => {
      const car = await readCar([bytes].values() as unknown as AsyncIterable<Uint8Array>)
      return (await collect(car.blocks)).length
    }

    it('reads every block of a good CAR', async () => {
      assert.equal(await read(good), 6)
    })

    it('gives each CID bytes of its own (a kept CID must not keep the reader\'s buffer alive: memory stays flat)', async () => {
      const car = await readCar([good].values() as unknown as AsyncIterable<Uint8Array>)
      for await (const block of car.blocks) {
        assert.equal(block.cid.bytes.buffer.byteLength, block.cid.bytes.byteLength, `${block.cid}`)
        assert.equal(block.cid.multihash.bytes.buffer.byteLength, block.cid.bytes.byteLength)
      }
    })

    it('refuses a block whose bytes do not match its CID', async () => {
      const bad = good.slice()
      bad[bad.length - 10] ^= 0xff
      await rejectsWith(read(bad), 'InvalidCarError', /block 6 .* does not match its CID/)
    })

    it('refuses a CAR cut short, an empty one, and bytes that are no CAR', async () => {
      await rejectsWith(read(good.subarray(0, good.length - 100)), 'InvalidCarError', /cut short/)
      await rejectsWith(read(good.subarray(0, 20)), 'InvalidCarError', /header/)
      await rejectsWith(read(new Uint8Array()), 'InvalidCarError', /empty/)
      await rejectsWith(read(text('{"hello": "this is JSON, not a CAR"}')), 'InvalidCarError')
    })

    it('refuses a block over the limit before reading it', async () => {
      await rejectsWith((async () => {
        const car = await readCar([good].values() as unknown as AsyncIterable<Uint8Array>, { maxBlockBytes: 512 })
        await collect(car.blocks)
      })(), 'InvalidCarError', /over the limit of 512/)
    })
  })

  describe('golden fixture', () => {
    it('the export of a small tree is byte for byte the CAR in test/fixtures', async () => {
      const store = new MemoryBlocks()
      const root = (await importDirectory(entries([
        { path: 'hello.txt', content: [text('hello\n')] },
        { path: 'sub/two.bin', content: [keystream('golden', 3000)] },
        { path: 'sub/empty' }
      ]), store, { chunker: 'size-1024' })).cid
      const bytes = await carBytes(store, root)
      if (process.env.SHOAL_UPDATE_FIXTURES === '1') await fs.writeFile(FIXTURE, bytes)
      const golden = await fs.readFile(FIXTURE)
      assert.equal(root.toString(), 'bafybeihfxlyboe7jus3evcmpcvwl3jmiyznlhqa26uuv7dfmw5saoc3h2i')
      assert.deepEqual(Buffer.from(bytes), golden)
      const car = await decoded(golden)
      assert.deepEqual(car.roots.map(String), [root.toString()])
      assert.deepEqual(car.blocks.map(b => b.cid.toString()), await referenceOrder(store, root))
    })
  })
})
