import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { extract } from 'it-tar'
import { importDirectory, importFile, importSymlink } from '../../src/content/importer.ts'
import type { DirectoryEntryInput } from '../../src/content/importer.ts'
import { exportTar } from '../../src/content/tar.ts'
import { MemoryBlocks } from './helpers.ts'

interface Extracted { type: string, mode: number, mtime: number, size: number, linkname?: string, bytes: Buffer }

/** Every entry of an archive by name, its header's fields and its bytes. */
async function untar (archive: AsyncIterable<Uint8Array>): Promise<Map<string, Extracted>> {
  const out = new Map<string, Extracted>()
  for await (const entry of extract()(archive)) {
    const chunks: Uint8Array[] = []
    for await (const chunk of entry.body) chunks.push(chunk.subarray())
    const h = entry.header
    out.set(h.name, { type: h.type ?? 'file', mode: h.mode, mtime: h.mtime.getTime(), size: h.size, linkname: h.linkname, bytes: Buffer.concat(chunks) })
  }
  return out
}

describe('content tar', () => {
  const blocks = new MemoryBlocks()
  const big = crypto.randomBytes(700_000)
  const now = new Date('2024-05-06T07:08:09Z')
  const stamped = new Date('2020-01-02T03:04:05Z')

  it('writes a tree as `ipfs get -a` does: NAME/..., directories first, files, symlinks, empty ones', async () => {
    const longName = `${'x'.repeat(120)}-é.txt`
    async function * tree (): AsyncGenerator<DirectoryEntryInput> {
      yield { path: 'top' }
      yield { path: 'top/a.txt', content: [Buffer.from('alpha\n')] }
      yield { path: 'top/sub' }
      yield { path: 'top/sub/big.bin', content: [big] }
      yield { path: 'top/sub/empty', content: [] }
      yield { path: 'top/sub/deeper' }
      yield { path: `top/sub/deeper/${longName}`, content: [Buffer.from('long')] }
      yield { path: 'top/up', target: '../a.txt' }
      yield { path: 'top/void' }
    }
    const root = (await importDirectory(tree(), blocks)).cid
    const got = await untar(exportTar(root, 'mydir', blocks, { now }))
    assert.deepEqual([...got.keys()], [
      'mydir/', 'mydir/top/', 'mydir/top/a.txt', 'mydir/top/sub/', 'mydir/top/sub/big.bin',
      `mydir/top/sub/deeper/`, `mydir/top/sub/deeper/${longName}`, 'mydir/top/sub/empty', 'mydir/top/up', 'mydir/top/void/'
    ])
    assert.equal(got.get('mydir/top/a.txt')?.bytes.toString(), 'alpha\n')
    assert.deepEqual(got.get('mydir/top/sub/big.bin')?.bytes, big)
    assert.equal(got.get('mydir/top/sub/big.bin')?.size, big.length)
    assert.equal(got.get('mydir/top/sub/empty')?.size, 0)
    assert.equal(got.get(`mydir/top/sub/deeper/${longName}`)?.bytes.toString(), 'long')
    const link = got.get('mydir/top/up')
    assert.equal(link?.type, 'symlink')
    assert.equal(link?.linkname, '../a.txt')
    assert.equal(link?.mode, 0o777)
    for (const [name, e] of got) {
      if (name.endsWith('/')) assert.equal(e.type, 'directory', name)
      if (e.type === 'directory') assert.equal(e.mode, 0o755, name)
      if (e.type === 'file') assert.equal(e.mode, 0o644, name)
      // no mtime in UnixFS: the time of the export
      assert.equal(e.mtime, now.getTime(), name)
    }
  })

  it('keeps the mode and mtime UnixFS holds', async () => {
    async function * tree (): AsyncGenerator<DirectoryEntryInput> {
      yield { path: 'bin', mode: 0o700, mtime: stamped }
      yield { path: 'bin/run.sh', content: [Buffer.from('#!/bin/sh\n')], mode: 0o755, mtime: stamped }
    }
    const root = (await importDirectory(tree(), blocks)).cid
    const got = await untar(exportTar(root, root.toString(), blocks, { now }))
    assert.equal(got.get(`${root}/bin/`)?.mode, 0o700)
    assert.equal(got.get(`${root}/bin/`)?.mtime, stamped.getTime())
    assert.equal(got.get(`${root}/bin/run.sh`)?.mode, 0o755)
    assert.equal(got.get(`${root}/bin/run.sh`)?.mtime, stamped.getTime())
  })

  it('a single file (a raw block, or a DAG) or a symlink is one entry named NAME', async () => {
    const small = await importFile([Buffer.from('hello')], blocks)
    const dag = await importFile([big], blocks, { cidVersion: 0 })
    const link = await importSymlink('somewhere/else', blocks)
    const one = await untar(exportTar(small.cid, 'hello.txt', blocks, { now }))
    assert.deepEqual([...one.keys()], ['hello.txt'])
    assert.equal(one.get('hello.txt')?.bytes.toString(), 'hello')
    assert.equal(one.get('hello.txt')?.mode, 0o644)
    const two = await untar(exportTar(dag.cid, 'big', blocks, { now }))
    assert.deepEqual(two.get('big')?.bytes, big)
    const three = await untar(exportTar(link.cid, 'l', blocks, { now }))
    assert.equal(three.get('l')?.type, 'symlink')
    assert.equal(three.get('l')?.linkname, 'somewhere/else')
  })

  it('streams: the first bytes come before the file is read, and a missing root fails before any byte', async () => {
    const local = new MemoryBlocks()
    const file = await importFile([crypto.randomBytes(40 * 256 * 1024)], local)
    const archive = exportTar(file.cid, 'f', local, { blockReadConcurrency: 4 })
    await archive.next() // the header
    await archive.next() // the first leaf
    assert.ok(local.gets < 10, `${local.gets} blocks read for the first bytes of a 41-block file`)
    await archive.return()
    await assert.rejects(exportTar(file.cid, 'f', new MemoryBlocks()).next(), (err: any) => err.code === 'ERR_BLOCK_NOT_FOUND')
  })
})
