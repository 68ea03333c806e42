import assert from 'node:assert/strict'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { DiskFullError } from '../../src/errors.ts'
import { formatChunker, importDirectory, importFile, nullSink, parseChunker, validatePath, type DirectoryEntryInput } from '../../src/content/importer.ts'
import { statContent, walk } from '../../src/content/exporter.ts'
import { MemoryBlocks, keystream, mod251, pieces, rejectsWith, stream, text } from './helpers.ts'

async function cidOf (bytes: Uint8Array, options = {}): Promise<string> {
  return (await importFile(pieces(bytes, 65536), nullSink, options)).cid.toString()
}

async function * entries (list: DirectoryEntryInput[]): AsyncGenerator<DirectoryEntryInput> {
  yield * list
}

/** dag-pb block of a UnixFS directory with these links (sorted by name, as dag-pb requires) */
function directoryBlock (links: Array<{ name: string, cid: CID, tsize: number }>): Uint8Array {
  return dagPb.encode(dagPb.prepare({
    Data: new UnixFS({ type: 'directory' }).marshal(),
    Links: links.map(l => ({ Name: l.name, Hash: l.cid, Tsize: l.tsize }))
  }))
}

async function cidV1 (code: number, bytes: Uint8Array): Promise<CID> {
  return CID.createV1(code, await sha256.digest(bytes))
}

describe('content/importer', () => {
  describe('golden CIDs (Kubo)', () => {
    it('"hello" as plain `ipfs add` (CIDv0)', async () => {
      assert.equal(await cidOf(text('hello'), { cidVersion: 0 }), 'QmWfVY9y3xjsixTgbd9AorQxH7VtMpzfx2HaWtsoUYecaX')
    })

    it('the empty file as plain `ipfs add` (CIDv0)', async () => {
      assert.equal(await cidOf(new Uint8Array(0), { cidVersion: 0 }), 'QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH')
    })

    it('1 MiB of i % 251, CIDv0 and CIDv1', async () => {
      const bytes = mod251(1 << 20)
      assert.equal(await cidOf(bytes, { cidVersion: 0 }), 'QmXgkY4miMKJBrg8YYke4xw6C2n8WNsUc1GXLhN84k4QM3')
      assert.equal(await cidOf(bytes), 'bafybeiedpcapwld4tkgtzwahfofgn4wex5ryysf4se6hwpmlrsh4ntnrau')
      assert.equal(await cidOf(bytes, { cidVersion: 1, chunker: 'size-262144', rawLeaves: true }), 'bafybeiedpcapwld4tkgtzwahfofgn4wex5ryysf4se6hwpmlrsh4ntnrau')
    })

    it('"hello" and the empty file with --cid-version=1', async () => {
      // A file of one chunk with raw leaves is its raw leaf: Kubo reduces a
      // single-leaf file to the leaf itself, so the CID is CIDv1(raw,
      // sha2-256("hello")), with no dag-pb node at all.
      const hello = 'bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq'
      assert.equal(await cidOf(text('hello')), hello)
      assert.equal((await cidV1(raw.code, text('hello'))).toString(), hello)
      // the same for the empty file: the raw block of zero bytes
      assert.equal(await cidOf(new Uint8Array(0)), 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku')
    })

    it('the empty directory (`ipfs add -r` of an empty directory, v0 and v1)', async () => {
      assert.equal((await importDirectory(entries([]), nullSink, { cidVersion: 0 })).cid.toString(), 'QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn')
      assert.equal((await importDirectory(entries([]), nullSink)).cid.toString(), 'bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354')
    })

    it('a small directory with --cid-version=1 (the CID rebuilt by hand from the UnixFS spec)', async () => {
      const tree: DirectoryEntryInput[] = [
        { path: 'hello.txt', content: [text('hello')] },
        { path: 'sub/empty.txt', content: [] },
        { path: 'sub/nested' }
      ]
      const result = await importDirectory(entries(tree), nullSink)
      const golden = 'bafybeidzlfvq27hlsvvmodeekzbi6mhkougie7hoypafb3ws2by4wgigci'
      assert.equal(result.cid.toString(), golden)

      // Why this is what `ipfs add -r --cid-version=1` gives: Kubo's directory
      // is a dag-pb node whose Data is UnixFS {Type: Directory} (bytes 08 01)
      // and whose links are sorted by name, each with the child's CID and
      // Tsize (the child's cumulative DAG size: a raw leaf's length, a
      // directory's block plus its links' Tsizes). Single-chunk files are
      // their raw leaves (see above), the empty directory is the 4-byte block
      // 0a 02 08 01. Building those blocks by hand gives the same CID.
      const helloLeaf = await cidV1(raw.code, text('hello'))
      const emptyLeaf = await cidV1(raw.code, new Uint8Array(0))
      const nestedBlock = directoryBlock([])
      assert.deepEqual(nestedBlock, Uint8Array.from([0x0a, 0x02, 0x08, 0x01]))
      const nested = await cidV1(dagPb.code, nestedBlock)
      assert.equal(nested.toString(), 'bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354')
      const subBlock = directoryBlock([
        { name: 'nested', cid: nested, tsize: nestedBlock.length },
        { name: 'empty.txt', cid: emptyLeaf, tsize: 0 }
      ])
      const sub = await cidV1(dagPb.code, subBlock)
      const rootBlock = directoryBlock([
        { name: 'sub', cid: sub, tsize: subBlock.length + nestedBlock.length },
        { name: 'hello.txt', cid: helloLeaf, tsize: 5 }
      ])
      assert.equal((await cidV1(dagPb.code, rootBlock)).toString(), golden)
      assert.equal(result.size, rootBlock.length + 5 + subBlock.length + nestedBlock.length)

      // every entry is reported, and the order of the input does not matter
      assert.deepEqual(result.entries.map(e => [e.path, e.type, e.size, e.cid.toString()]).sort(), [
        ['hello.txt', 'file', 5, helloLeaf.toString()],
        ['sub', 'directory', subBlock.length + nestedBlock.length, sub.toString()],
        ['sub/empty.txt', 'file', 0, emptyLeaf.toString()],
        ['sub/nested', 'directory', 4, nested.toString()]
      ])
      const reversed = await importDirectory(entries([tree[2], tree[1], tree[0]]), nullSink)
      assert.equal(reversed.cid.toString(), golden)
    })
  })

  describe('files', () => {
    it('gives the same CID however the input is split', async () => {
      const bytes = keystream('split', 3 * 262144 + 17)
      const expected = await cidOf(bytes)
      for (const sizes of [[1 << 20], [1], [262144], [262143, 2], [7, 65536, 100000]]) {
        if (sizes[0] === 1 && sizes.length === 1) continue
        assert.equal((await importFile(stream(bytes, sizes), nullSink)).cid.toString(), expected, `pieces ${sizes.join(',')}`)
      }
      assert.equal((await importFile(bytes, nullSink)).cid.toString(), expected, 'one Uint8Array')
    })

    it('reports file bytes and blocks written', async () => {
      const sink = new MemoryBlocks()
      const bytes = keystream('count', 3 * 262144 + 1)
      const result = await importFile(pieces(bytes, 65536), sink)
      assert.equal(result.size, bytes.length)
      assert.equal(result.blocks, 5) // 4 raw leaves and the root
      assert.equal(sink.puts, 5)
      assert.equal(sink.blocks.size, 5)
      const zeros = await importFile([new Uint8Array(4 * 262144)], new MemoryBlocks())
      assert.equal(zeros.blocks, 5, 'a repeated leaf counts each time it is written')
    })

    it('CIDv0 uses dag-pb leaves, CIDv1 raw leaves, unless told otherwise', async () => {
      const bytes = keystream('leaves', 2 * 262144)
      const leafCodecs = async (options: object): Promise<number[]> => {
        const sink = new MemoryBlocks()
        const { cid } = await importFile([bytes], sink, options)
        const root = dagPb.decode((await sink.get(cid)))
        return root.Links.map(l => l.Hash.code)
      }
      assert.deepEqual(await leafCodecs({ cidVersion: 0 }), [dagPb.code, dagPb.code])
      assert.deepEqual(await leafCodecs({ cidVersion: 0, rawLeaves: true }), [raw.code, raw.code])
      assert.deepEqual(await leafCodecs({ cidVersion: 1 }), [raw.code, raw.code])
      assert.deepEqual(await leafCodecs({ cidVersion: 1, rawLeaves: false }), [dagPb.code, dagPb.code])
      const v0 = await cidOf(bytes, { cidVersion: 0 })
      assert.equal(CID.parse(v0).version, 0)
      assert.notEqual(await cidOf(bytes, { cidVersion: 0, rawLeaves: true }), v0)
    })

    it('lays files out balanced with at most 174 links per node (Kubo)', async () => {
      const sink = new MemoryBlocks()
      const bytes = keystream('balanced', 175 * 1024)
      const { cid } = await importFile([bytes], sink, { chunker: 'size-1024' })
      const root = dagPb.decode(await sink.get(cid))
      assert.equal(root.Links.length, 2)
      const first = dagPb.decode(await sink.get(root.Links[0].Hash))
      const second = await sink.get(root.Links[1].Hash)
      assert.equal(first.Links.length, 174)
      assert.equal(root.Links[1].Hash.code, dagPb.code, 'the 175th leaf sits under its own parent')
      assert.equal(dagPb.decode(second).Links.length, 1)
    })

    it('uses the chunker it is given', async () => {
      const sink = new MemoryBlocks()
      const bytes = keystream('chunker', 1 << 20)
      const fixed = await importFile([bytes], sink, { chunker: 'size-100000' })
      assert.equal(fixed.blocks, 12) // 11 leaves and the root
      const cdc = await importFile([bytes], sink, { chunker: 'fastcdc-2048-8192-65536' })
      const root = dagPb.decode(await sink.get(cdc.cid))
      const sizes = UnixFS.unmarshal(root.Data!).blockSizes.map(Number)
      assert.ok(sizes.length > 60, `${sizes.length} chunks`)
      assert.ok(sizes.slice(0, -1).every(s => s >= 2048 && s <= 65536))
      assert.notEqual(cdc.cid.toString(), fixed.cid.toString())
    })

    it('reports progress as bytes read', async () => {
      const seen: number[] = []
      const bytes = keystream('progress', 5 * 262144 + 3)
      await importFile(pieces(bytes, 65536), nullSink, { onProgress: e => seen.push(e.detail.bytes) })
      assert.equal(seen.length, 6)
      assert.deepEqual(seen, [...seen].sort((a, b) => a - b))
      assert.equal(seen[seen.length - 1], bytes.length)
    })

    it('stops with AbortedError when aborted', async () => {
      const controller = new AbortController()
      async function * endless (): AsyncGenerator<Uint8Array> {
        for (let i = 0; ; i++) {
          if (i === 20) controller.abort()
          yield new Uint8Array(65536)
        }
      }
      await rejectsWith(importFile(endless(), nullSink, { signal: controller.signal }), 'AbortedError')
      await rejectsWith(importFile([text('x')], nullSink, { signal: AbortSignal.abort() }), 'AbortedError')
    })

    it('passes the sink\'s errors through', async () => {
      const sink = { put: async () => { throw new DiskFullError('No space left') } }
      await rejectsWith(importFile([text('hello')], sink), 'DiskFullError')
    })

    it('rejects content that is not bytes', async () => {
      await rejectsWith(importFile(['hello'] as unknown as Uint8Array[], nullSink), 'InvalidArgumentError')
      await rejectsWith(importFile(42 as unknown as Uint8Array[], nullSink), 'InvalidArgumentError')
      await rejectsWith(importFile([text('x')], nullSink, { cidVersion: 2 as 1 }), 'InvalidArgumentError')
      await rejectsWith(importFile([text('x')], nullSink, { chunker: 'rabin' }), 'InvalidArgumentError', /Invalid chunker "rabin"/)
    })
  })

  describe('chunker specs', () => {
    it('parses size-N and fastcdc', () => {
      assert.deepEqual(parseChunker('size-262144'), { type: 'fixed', size: 262144 })
      assert.deepEqual(parseChunker('size-1'), { type: 'fixed', size: 1 })
      assert.deepEqual(parseChunker('size-1048576'), { type: 'fixed', size: 1048576 })
      assert.deepEqual(parseChunker('fastcdc'), { type: 'fastcdc', minSize: 65536, avgSize: 262144, maxSize: 1048576 })
      assert.deepEqual(parseChunker('fastcdc-2048-8192-65536'), { type: 'fastcdc', minSize: 2048, avgSize: 8192, maxSize: 65536 })
      assert.equal(formatChunker(parseChunker('fastcdc')), 'fastcdc-65536-262144-1048576')
      assert.equal(formatChunker(parseChunker('size-1000')), 'size-1000')
    })

    it('rejects bad specs with a clear message', async () => {
      for (const spec of ['', 'size', 'size-', 'size-0', 'size-1048577', 'size-abc', 'size-1.5', 'size--5', 'size-10-20',
        'rabin', 'rabin-1-2-3', 'buzhash', 'fastcdc-1', 'fastcdc-1-2', 'fastcdc-a-b-c', 'fastcdc-8192-4096-65536',
        'fastcdc-65536-262144-2097152', 'fastcdc-16-32-64', 'FASTCDC']) {
        await rejectsWith(async () => parseChunker(spec), 'InvalidArgumentError', /Invalid chunker/)
      }
      await rejectsWith(async () => parseChunker(42 as unknown as string), 'InvalidArgumentError')
    })
  })

  describe('directories', () => {
    it('rejects invalid paths', async () => {
      for (const path of ['', '/abs', '/', 'a//b', 'a/', '../x', 'a/../b', 'a/..', './a', 'a/./b', 'a\\/b', 'a\0b']) {
        await rejectsWith(async () => validatePath(path), 'InvalidArgumentError', /Invalid path/)
        await rejectsWith(importDirectory(entries([{ path, content: [text('x')] }]), nullSink), 'InvalidArgumentError')
      }
      await rejectsWith(importDirectory(entries([{ path: 42 as unknown as string }]), nullSink), 'InvalidArgumentError')
      assert.equal(validatePath('a b/ünï/c.d'), 'a b/ünï/c.d')
    })

    it('rejects duplicate and conflicting entries', async () => {
      const x = (): Uint8Array[] => [text('x')]
      await rejectsWith(importDirectory(entries([{ path: 'a', content: x() }, { path: 'a', content: x() }]), nullSink), 'InvalidArgumentError', /Duplicate/)
      await rejectsWith(importDirectory(entries([{ path: 'a', content: x() }, { path: 'a/b', content: x() }]), nullSink), 'InvalidArgumentError', /is a file/)
      await rejectsWith(importDirectory(entries([{ path: 'a/b', content: x() }, { path: 'a', content: x() }]), nullSink), 'InvalidArgumentError', /already a directory/)
      await rejectsWith(importDirectory(entries([{ path: 'a/b', content: x() }, { path: 'a', mode: 0o700 }]), nullSink), 'InvalidArgumentError', /before its contents/)
      // a directory listed again, or after its contents, without metadata, is harmless
      const once = await importDirectory(entries([{ path: 'a/b', content: x() }]), nullSink)
      const twice = await importDirectory(entries([{ path: 'a' }, { path: 'a/b', content: x() }, { path: 'a' }]), nullSink)
      assert.equal(twice.cid.toString(), once.cid.toString())
    })

    it('keeps mode and mtime when given', async () => {
      const sink = new MemoryBlocks()
      const mtime = new Date('2024-05-06T07:08:09.250Z')
      const result = await importDirectory(entries([
        { path: 'd', mode: 0o700, mtime },
        { path: 'd/f', content: [text('hi')], mode: 0o600, mtime }
      ]), sink)
      const found = new Map<string, { mode?: number, mtime?: Date }>()
      for await (const e of walk(result.cid, sink)) found.set(e.path, e)
      assert.equal(found.get('d')?.mode, 0o700)
      assert.equal(found.get('d/f')?.mode, 0o600)
      assert.equal(found.get('d/f')?.mtime?.getTime(), mtime.getTime())
      assert.equal(found.get('d')?.mtime?.getTime(), mtime.getTime())
      await rejectsWith(importDirectory(entries([{ path: 'f', content: [], mode: -1 }]), nullSink), 'InvalidArgumentError')
      await rejectsWith(importDirectory(entries([{ path: 'f', content: [], mtime: new Date(NaN) }]), nullSink), 'InvalidArgumentError')
    })

    it('shards a directory exactly when Kubo does (links estimate above 256 KiB)', async () => {
      // Each link counts name bytes + CID bytes (36 for a CIDv1 raw leaf):
      // 4096 names of 28 bytes make exactly 262144, which stays a plain
      // directory; one more byte tips it into a HAMT shard.
      const names = (extra: number): DirectoryEntryInput[] => Array.from({ length: 4096 }, (_, i) => ({
        path: `${String(i).padStart(28, '0')}${i === 0 ? 'x'.repeat(extra) : ''}`,
        content: []
      }))
      const sink = new MemoryBlocks()
      const flat = await importDirectory(entries(names(0)), sink)
      assert.equal((await statContent(flat.cid, sink)).sharded, false)
      const sharded = await importDirectory(entries(names(1)), sink)
      const stat = await statContent(sharded.cid, sink)
      assert.equal(stat.type, 'directory')
      assert.equal(stat.sharded, true)
      const root = UnixFS.unmarshal(dagPb.decode(await sink.get(sharded.cid)).Data!)
      assert.equal(root.type, 'hamt-sharded-directory')
      assert.equal(root.fanout, 256n)
    })

    it('keeps memory bounded: one file at a time, a bounded number of chunks in flight', async () => {
      let reading = 0
      let maxReading = 0
      let inFlight = 0
      let maxInFlight = 0
      const sink = {
        put: async () => {
          inFlight++
          maxInFlight = Math.max(maxInFlight, inFlight)
          await new Promise(resolve => setImmediate(resolve))
          inFlight--
        }
      }
      async function * file (): AsyncGenerator<Uint8Array> {
        reading++
        maxReading = Math.max(maxReading, reading)
        yield * pieces(new Uint8Array(40 * 65536), 65536)
        reading--
      }
      await importDirectory(entries(Array.from({ length: 5 }, (_, i) => ({ path: `f${i}`, content: file() }))), sink)
      assert.equal(maxReading, 1)
      assert.ok(maxInFlight <= 10, `${maxInFlight} blocks in flight`)
    })
  })
})
