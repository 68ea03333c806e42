import assert from 'node:assert/strict'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { sha256 } from 'multiformats/hashes/sha2'
import { CorruptBlockError } from '../../src/errors.ts'
import { cat, ls, statContent, walk, type WalkEntry } from '../../src/content/exporter.ts'
import { importDirectory, importFile, type DirectoryEntryInput, type ImportOptions } from '../../src/content/importer.ts'
import { MemoryBlocks, collect, concatStream, keystream, pieces, rejectsWith, text } from './helpers.ts'
import type { AbortOptions, BlockSource } from '../../src/content/blocks.ts'

async function put (store: MemoryBlocks, code: number, bytes: Uint8Array): Promise<CID> {
  const cid = CID.createV1(code, await sha256.digest(bytes))
  await store.put(cid, bytes)
  return cid
}

function fileNode (data: Uint8Array | undefined, links: Array<{ cid: CID, size: number }>, declared?: number[]): Uint8Array {
  const unixfs = new UnixFS({ type: 'file', data })
  for (const s of declared ?? links.map(l => l.size)) unixfs.addBlockSize(BigInt(s))
  return dagPb.encode(dagPb.prepare({ Data: unixfs.marshal(), Links: links.map(l => ({ Hash: l.cid, Tsize: l.size })) }))
}

function dirNode (links: Array<{ name: string, cid: CID, size: number }>, type: 'directory' | 'symlink' = 'directory', data?: Uint8Array): Uint8Array {
  return dagPb.encode(dagPb.prepare({
    Data: new UnixFS({ type, data }).marshal(),
    Links: links.map(l => ({ Name: l.name, Hash: l.cid, Tsize: l.size }))
  }))
}

async function * entries (list: DirectoryEntryInput[]): AsyncGenerator<DirectoryEntryInput> {
  yield * list
}

/** The file's bytes back through `cat`, with the given range. */
async function read (cid: CID, store: BlockSource, offset?: number, length?: number, extra = {}): Promise<Uint8Array> {
  return await concatStream(cat(cid, store, { offset, length, ...extra }))
}

/** What `cat` must return: the slice, clamped to the file. */
function slice (bytes: Uint8Array, offset = 0, length?: number): Uint8Array {
  return bytes.subarray(Math.min(offset, bytes.length), length == null ? bytes.length : Math.min(bytes.length, offset + length))
}

/** A tree of directories and files: the input and what walk must give back. */
function sampleTree (): { input: DirectoryEntryInput[], expected: Map<string, Uint8Array | 'dir'> } {
  const expected = new Map<string, Uint8Array | 'dir'>()
  const input: DirectoryEntryInput[] = []
  const file = (path: string, bytes: Uint8Array): void => {
    input.push({ path, content: pieces(bytes, 100000) })
    expected.set(path, bytes)
  }
  const dir = (path: string): void => {
    input.push({ path })
    expected.set(path, 'dir')
  }
  file('empty', new Uint8Array(0))
  file('one', text('1'))
  dir('a')
  file('a/big', keystream('tree big', 3 * 262144 + 99))
  file('a/exact', keystream('tree exact', 262144))
  dir('a/b')
  dir('a/b/empty-dir')
  file('a/b/c/deep.txt', text('deep down'))
  expected.set('a/b/c', 'dir')
  file('names with spaces & ünïcode/ok', text('fine'))
  expected.set('names with spaces & ünïcode', 'dir')
  dir('z-empty')
  return { input, expected }
}

async function rebuild (source: AsyncIterable<WalkEntry>): Promise<{ found: Map<string, Uint8Array | 'dir'>, order: string[] }> {
  const found = new Map<string, Uint8Array | 'dir'>()
  const order: string[] = []
  for await (const e of source) {
    order.push(e.path)
    if (e.type === 'directory') found.set(e.path, 'dir')
    else {
      assert.ok(e.content != null, `${e.path} has content`)
      const bytes = await concatStream(e.content())
      assert.equal(bytes.length, e.size, `${e.path}: size`)
      found.set(e.path, bytes)
    }
  }
  return { found, order }
}

describe('content/exporter', () => {
  describe('cat', () => {
    const cases: Array<{ options: ImportOptions, sizes: number[] }> = [
      { options: {}, sizes: [0, 1, 255, 262143, 262144, 262145, 3 * 262144, 3 * 262144 + 5, (1 << 20) + 12345] },
      { options: { cidVersion: 0 }, sizes: [0, 1, 262144, 262145, 2 * 262144 + 1] },
      { options: { chunker: 'size-1024', cidVersion: 0 }, sizes: [1023, 1024, 1025, 175 * 1024 + 7] },
      { options: { chunker: 'fastcdc-2048-8192-65536' }, sizes: [0, 2047, 8192, 300000] }
    ]
    for (const { options, sizes } of cases) {
      it(`round-trips byte for byte: ${JSON.stringify(options)}`, async () => {
        const store = new MemoryBlocks()
        for (const size of sizes) {
          const bytes = keystream(`round trip ${size}`, size)
          const { cid } = await importFile(pieces(bytes, 65536), store, options)
          assert.deepEqual(await read(cid, store), bytes, `${size} bytes`)
          const stat = await statContent(cid, store)
          assert.equal(stat.size, size)
          assert.equal(stat.type, cid.code === raw.code ? 'raw' : 'file')
        }
      })
    }

    describe('ranges', function () {
      this.timeout(120_000)
      // 16-byte chunks, 30500 of them: three levels (174 x 174 leaves fill two)
      const store = new MemoryBlocks()
      const bytes = keystream('ranges', 16 * 30500)
      let deep: CID
      let pbLeaves: CID
      const pbBytes = keystream('ranges v0', 10 * 1000 + 1)
      before(async () => {
        deep = (await importFile([bytes], store, { chunker: 'size-16' })).cid
        pbLeaves = (await importFile([pbBytes], store, { chunker: 'size-1000', cidVersion: 0 })).cid
      })

      it('reads at and across chunk and node boundaries', async () => {
        const root = dagPb.decode(await store.get(deep))
        assert.equal(root.Links.length, 2, 'three levels')
        const L1 = 16 * 174
        const L2 = 16 * 174 * 174
        const offsets = [0, 1, 15, 16, 17, L1 - 1, L1, L1 + 1, L2 - 1, L2, L2 + 1, bytes.length - 17, bytes.length - 1, bytes.length, bytes.length + 10]
        const lengths = [0, 1, 2, 15, 16, 17, 33, L1, L1 + 1]
        for (const offset of offsets) {
          for (const length of lengths) {
            const got = await read(deep, store, offset, length)
            assert.deepEqual(got, slice(bytes, offset, length), `offset ${offset} length ${length}`)
          }
        }
        // long reads: to the end, and past it
        for (const [offset, length] of [[0, undefined], [L2 - 3, undefined], [17, 10 * bytes.length], [L1 + 5, 100000]]) {
          assert.deepEqual(await read(deep, store, offset, length), slice(bytes, offset, length), `offset ${offset} length ${length}`)
        }
      })

      it('reads ranges of dag-pb leaves and of a raw block', async () => {
        for (const [offset, length] of [[0, 1000], [999, 2], [1000, 1000], [5500, 3000], [10000, 5], [10001, 1], [20000, 1]]) {
          assert.deepEqual(await read(pbLeaves, store, offset, length), slice(pbBytes, offset, length), `offset ${offset} length ${length}`)
        }
        const small = text('hello world')
        const { cid } = await importFile([small], store)
        assert.equal(cid.code, raw.code)
        assert.deepEqual(await read(cid, store, 6, 3), text('wor'))
        assert.deepEqual(await read(cid, store, 6), text('world'))
        assert.deepEqual(await read(cid, store, 11), new Uint8Array(0))
        assert.deepEqual(await read(cid, store, 50, 3), new Uint8Array(0))
      })

      it('yields views of the blocks, in order, without copies', async () => {
        const parts = await collect(cat(pbLeaves, store, { offset: 500, length: 2000 }))
        assert.deepEqual(parts.map(p => p.length), [500, 1000, 500])
      })

      it('rejects a bad range', async () => {
        for (const r of [{ offset: -1 }, { offset: 1.5 }, { length: -1 }, { offset: Number.NaN }, { length: 2 ** 60 }]) {
          await rejectsWith(read(deep, store, r.offset, r.length), 'InvalidArgumentError')
        }
      })
    })

    it('reads ahead a bounded number of blocks, pulled by the consumer', async () => {
      const store = new MemoryBlocks()
      const bytes = keystream('lazy', 100 * 1024)
      const { cid } = await importFile([bytes], store, { chunker: 'size-1024' })
      for (const concurrency of [1, 2, 8]) {
        store.gets = 0
        const it = cat(cid, store, { blockReadConcurrency: concurrency })[Symbol.asyncIterator]()
        const first = await it.next()
        assert.equal(first.value?.length, 1024)
        await new Promise(resolve => setTimeout(resolve, 20))
        // the root, then at most `concurrency` leaves fetched ahead
        assert.ok(store.gets <= 1 + concurrency, `${store.gets} blocks fetched with concurrency ${concurrency}`)
        await it.return?.()
      }
    })

    it('stops cleanly when the consumer stops, even with a failing block ahead', async () => {
      const store = new MemoryBlocks()
      const bytes = keystream('stop early', 20 * 1024)
      const { cid } = await importFile([bytes], store, { chunker: 'size-1024' })
      const root = dagPb.decode(await store.get(cid))
      store.delete(root.Links[3].Hash)
      const unhandled: unknown[] = []
      const onUnhandled = (err: unknown): void => { unhandled.push(err) }
      process.on('unhandledRejection', onUnhandled)
      try {
        for await (const chunk of cat(cid, store, { blockReadConcurrency: 8 })) {
          assert.equal(chunk.length, 1024)
          break
        }
        await new Promise(resolve => setTimeout(resolve, 20))
      } finally {
        process.off('unhandledRejection', onUnhandled)
      }
      assert.deepEqual(unhandled, [])
      // reading on does reach the missing block
      await rejectsWith(read(cid, store), 'BlockNotFoundError')
    })

    it('reads identity CIDs without the store', async () => {
      const bytes = text('inline')
      const cid = CID.createV1(raw.code, identity.digest(bytes))
      const empty = new MemoryBlocks()
      assert.deepEqual(await read(cid, empty), bytes)
      assert.equal(empty.gets, 0)
    })
  })

  describe('stat, ls and walk', () => {
    const store = new MemoryBlocks()
    const tree = sampleTree()
    let root: CID
    let rootSize: number
    before(async () => {
      const result = await importDirectory(entries(tree.input), store)
      root = result.cid
      rootSize = result.size
    })

    it('stats files, raw blocks and directories', async () => {
      const stat = await statContent(root, store)
      assert.equal(stat.cid, root.toString())
      assert.equal(stat.type, 'directory')
      assert.equal(stat.sharded, false)
      // the cumulative size counts every block of the tree: the stored ones, and
      // the empty directory (4 bytes) a second time, as it is there twice
      assert.equal(stat.size, store.bytes + 4)
      assert.equal(stat.size, rootSize)
      assert.equal(stat.cumulativeSize, stat.size)
      assert.equal(stat.blocks, 5) // its entries
      assert.equal(stat.mode, 0o755)

      const big = await importFile([keystream('tree big', 3 * 262144 + 99)], store)
      const fileStat = await statContent(big.cid.toString(), store)
      assert.deepEqual({ type: fileStat.type, size: fileStat.size, blocks: fileStat.blocks }, { type: 'file', size: 3 * 262144 + 99, blocks: 4 })
      assert.ok(fileStat.cumulativeSize > fileStat.size)
      const one = await importFile([text('1')], store)
      assert.deepEqual(await statContent(one.cid, store), { cid: one.cid.toString(), type: 'raw', size: 1, cumulativeSize: 1, blockSize: 1, blocks: 0 })
    })

    it('stats a symlink', async () => {
      const s = new MemoryBlocks()
      const cid = await put(s, dagPb.code, dirNode([], 'symlink', text('../target')))
      const stat = await statContent(cid, s)
      assert.equal(stat.type, 'symlink')
      assert.equal(stat.target, '../target')
      assert.equal(stat.size, 9)
      await rejectsWith(read(cid, s), 'InvalidArgumentError', /symlink/)
    })

    it('lists a directory', async () => {
      const list = await collect(ls(root, store))
      assert.deepEqual(list.map(e => [e.name, e.type]), [
        ['a', 'directory'], ['empty', 'raw'], ['names with spaces & ünïcode', 'directory'], ['one', 'raw'], ['z-empty', 'directory']
      ])
      const a = await collect(ls(list[0].cid, store))
      assert.deepEqual(a.map(e => [e.name, e.type, e.size]), [['b', 'directory', a[0].size], ['big', 'file', 3 * 262144 + 99], ['exact', 'raw', 262144]])
      assert.equal(a[0].size, (await statContent(a[0].cid, store)).size)
      const unresolved = await collect(ls(root, store, { resolveType: false }))
      assert.ok(unresolved.every(e => e.type === 'unknown'))
      assert.deepEqual(unresolved.map(e => e.name), list.map(e => e.name))
      assert.deepEqual(await collect(ls(list[4].cid, store)), [])
    })

    it('walks a tree: directories first, every file byte for byte', async () => {
      const { found, order } = await rebuild(walk(root, store))
      assert.equal(order[0], '')
      found.delete('')
      assert.deepEqual(found, tree.expected)
      for (const [i, path] of order.entries()) {
        if (i === 0) continue
        const parent = path.split('/').slice(0, -1).join('/')
        assert.ok(order.indexOf(parent) < i, `${path} comes after ${parent}`)
      }
    })

    it('walks a single file', async () => {
      const bytes = keystream('walk file', 300000)
      const { cid } = await importFile([bytes], store)
      const list = await collect(walk(cid, store))
      assert.equal(list.length, 1)
      assert.equal(list[0].path, '')
      assert.equal(list[0].type, 'file')
      assert.deepEqual(await concatStream(list[0].content!()), bytes)
      assert.deepEqual(await concatStream(list[0].content!({ offset: 262140, length: 8 })), bytes.subarray(262140, 262148))
    })

    it('rejects cat of a directory and ls of a file', async () => {
      await rejectsWith(read(root, store), 'InvalidArgumentError', /is a directory/)
      const { cid } = await importFile([keystream('f', 300000)], store)
      await rejectsWith(collect(ls(cid, store)), 'InvalidArgumentError', /not a directory/)
      const one = await importFile([text('1')], store)
      await rejectsWith(collect(ls(one.cid, store)), 'InvalidArgumentError', /not a directory/)
    })
  })

  describe('a HAMT-sharded directory', function () {
    this.timeout(120_000)
    const store = new MemoryBlocks()
    const COUNT = 6000
    const name = (i: number): string => `entry-${String(i).padStart(5, '0')}-${'n'.repeat(i % 13)}.txt`
    let root: CID
    before(async () => {
      const list: DirectoryEntryInput[] = []
      for (let i = 0; i < COUNT; i++) list.push({ path: `dir/${name(i)}`, content: [text(`file number ${i}`)] })
      list.push({ path: 'dir/sub/inner.txt', content: [text('inner')] })
      root = (await importDirectory(entries(list), store)).cid
    })

    it('is a shard and lists every entry', async () => {
      const [dir] = await collect(ls(root, store))
      assert.equal(dir.name, 'dir')
      const stat = await statContent(dir.cid, store)
      assert.equal(stat.sharded, true)
      const list = await collect(ls(dir.cid, store))
      assert.equal(list.length, COUNT + 1)
      const byName = new Map(list.map(e => [e.name, e]))
      for (let i = 0; i < COUNT; i++) {
        const e = byName.get(name(i))
        assert.ok(e != null, name(i))
        assert.equal(e.type, 'raw')
        assert.equal(e.size, text(`file number ${i}`).length)
      }
      assert.equal(byName.get('sub')?.type, 'directory')
    })

    it('round-trips through walk', async () => {
      const { found } = await rebuild(walk(root, store))
      assert.equal(found.size, COUNT + 4)
      for (let i = 0; i < COUNT; i++) assert.deepEqual(found.get(`dir/${name(i)}`), text(`file number ${i}`))
      assert.deepEqual(found.get('dir/sub/inner.txt'), text('inner'))
    })

    it('lets a missing shard block surface as BlockNotFoundError', async () => {
      const [dir] = await collect(ls(root, store))
      const shard = dagPb.decode(await store.get(dir.cid))
      const sub = shard.Links.find(l => l.Name?.length === 2)
      assert.ok(sub != null, 'the shard has sub-shards')
      const copy = new MemoryBlocks()
      for (const [k, v] of store.blocks) copy.blocks.set(k, v)
      copy.delete(sub.Hash)
      const err = await rejectsWith(collect(ls(dir.cid, copy)), 'BlockNotFoundError')
      assert.equal((err as Error & { cid: string }).cid, sub.Hash.toString())
      await rejectsWith(collect(walk(root, copy)), 'BlockNotFoundError')
    })
  })

  describe('bad input', () => {
    it('rejects a CID that is not UnixFS', async () => {
      const store = new MemoryBlocks()
      const cbor = await put(store, 0x71, Uint8Array.from([0xa0]))
      await rejectsWith(statContent(cbor, store), 'NotUnixFsError', /codec is 0x71/)
      await rejectsWith(read(cbor, store), 'NotUnixFsError')
      const noData = await put(store, dagPb.code, dagPb.encode({ Links: [] }))
      await rejectsWith(statContent(noData, store), 'NotUnixFsError', /no UnixFS data/)
      const garbage = await put(store, dagPb.code, dagPb.encode({ Data: Uint8Array.from([0xff, 0xff, 0xff]), Links: [] }))
      await rejectsWith(statContent(garbage, store), 'NotUnixFsError')
      const notPb = await put(store, dagPb.code, Uint8Array.from([0xff, 0x00, 0x13]))
      await rejectsWith(read(notPb, store), 'NotUnixFsError', /not a valid dag-pb node/)
      const metadata = await put(store, dagPb.code, dagPb.encode({ Data: new UnixFS({ type: 'metadata' }).marshal(), Links: [] }))
      await rejectsWith(statContent(metadata, store), 'NotUnixFsError', /metadata/)
      await rejectsWith(statContent('not a cid', store), 'InvalidCidError')
    })

    it('surfaces a missing block as BlockNotFoundError', async () => {
      const store = new MemoryBlocks()
      const bytes = keystream('missing', 5 * 262144)
      const { cid } = await importFile([bytes], store)
      const root = dagPb.decode(await store.get(cid))
      store.delete(root.Links[2].Hash)
      const received: Uint8Array[] = []
      const err = await rejectsWith(async () => { for await (const b of cat(cid, store)) received.push(b) }, 'BlockNotFoundError')
      assert.equal((err as Error & { cid: string }).cid, root.Links[2].Hash.toString())
      assert.equal(received.length, 2, 'the bytes before the missing block were delivered')
      assert.deepEqual(await read(cid, store, 0, 2 * 262144), bytes.subarray(0, 2 * 262144), 'a range before it still reads')
      await rejectsWith(statContent(CID.createV1(raw.code, await sha256.digest(text('absent'))), store), 'BlockNotFoundError')
    })

    it('passes the source\'s own errors through', async () => {
      const { cid } = await importFile([keystream('corrupt', 300000)], new MemoryBlocks())
      const source = { get: async (c: CID, _o?: AbortOptions): Promise<Uint8Array> => { throw new CorruptBlockError(c.toString()) } }
      await rejectsWith(read(cid, source), 'CorruptBlockError')
    })

    it('rejects a file DAG that disagrees with itself', async () => {
      const store = new MemoryBlocks()
      const leaf = await put(store, raw.code, text('0123456789'))
      const short = await put(store, dagPb.code, fileNode(undefined, [{ cid: leaf, size: 10 }], [12]))
      await rejectsWith(read(short, store), 'NotUnixFsError', /has 10 bytes but file node/)
      const counts = await put(store, dagPb.code, fileNode(undefined, [{ cid: leaf, size: 10 }], [10, 10]))
      await rejectsWith(read(counts, store), 'NotUnixFsError', /1 links but 2 block sizes/)
      const dir = await put(store, dagPb.code, dirNode([]))
      const intoDir = await put(store, dagPb.code, fileNode(undefined, [{ cid: dir, size: 0 }], [5]))
      await rejectsWith(read(intoDir, store), 'NotUnixFsError', /a directory, not file data/)
      const good = await put(store, dagPb.code, fileNode(text('ab'), [{ cid: leaf, size: 10 }]))
      assert.deepEqual(await read(good, store), text('ab0123456789'), 'data in the node comes before its children')
    })

    it('refuses entry names that cannot be file names when walking', async () => {
      for (const bad of ['..', '.', 'a/b', '']) {
        const store = new MemoryBlocks()
        const leaf = await put(store, raw.code, text('x'))
        const dir = await put(store, dagPb.code, dirNode([{ name: bad, cid: leaf, size: 1 }]))
        await rejectsWith(collect(walk(dir, store)), 'NotUnixFsError', /cannot be a file name/)
      }
    })

    it('stops with AbortedError', async () => {
      const store = new MemoryBlocks()
      const { cid } = await importFile([keystream('abort', 3 * 262144)], store)
      const controller = new AbortController()
      await rejectsWith(async () => {
        for await (const _ of cat(cid, store, { signal: controller.signal, blockReadConcurrency: 1 })) controller.abort()
      }, 'AbortedError')
    })
  })
})
