import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import fs from 'node:fs/promises'
import fsSync from 'node:fs'
import path from 'node:path'
import { CID } from 'multiformats/cid'
import { BlockNotFoundError, CorruptBlockError } from '../../src/errors.ts'
import { ContentStore } from '../../src/store/content-store.ts'
import { Metadata } from '../../src/store/metadata.ts'
import { PackedBlockstore } from '../../src/store/packed-blockstore.ts'
import type { PackedBlockstoreInit } from '../../src/store/packed-blockstore.ts'
import { tempDir } from '../helpers/tmp.ts'
import { blockstoreCompliance } from './blockstore-compliance.ts'
import { bytesOf, rawBlock } from './dag.ts'

blockstoreCompliance('PackedBlockstore', async () => {
  const { dir, cleanup } = await tempDir('shoal-pack-')
  const metadata = Metadata.open(path.join(dir, 'metadata.db'))
  const store = await PackedBlockstore.open({ root: dir, metadata })
  return { store, cleanup: async () => { await store.close(); metadata.close(); await cleanup() } }
})

blockstoreCompliance('PackedBlockstore with 64 KiB segments, without fsync', async () => {
  const { dir, cleanup } = await tempDir('shoal-pack-')
  const metadata = Metadata.open(path.join(dir, 'metadata.db'))
  const store = await PackedBlockstore.open({ root: dir, metadata, segmentBytes: 64 * 1024, fsync: false })
  return { store, cleanup: async () => { await store.close(); metadata.close(); await cleanup() } }
})

// the store every production write goes through: ContentStore's indexed blockstore over the packed one
blockstoreCompliance('ContentStore.blocks (indexed, packed)', async () => {
  const { dir, cleanup } = await tempDir('shoal-pack-')
  const store = await ContentStore.open({ dir })
  return { store: store.blocks, cleanup: async () => { await store.close(); await cleanup() } }
})

blockstoreCompliance('ContentStore.blocks (indexed, flat)', async () => {
  const { dir, cleanup } = await tempDir('shoal-pack-')
  const store = await ContentStore.open({ dir, layout: 'flat' })
  return { store: store.blocks, cleanup: async () => { await store.close(); await cleanup() } }
})

async function blocks (n: number, size = 10_000, seed = 'b'): Promise<Array<{ cid: CID, bytes: Uint8Array }>> {
  return await Promise.all(Array.from({ length: n }, async (_, i) => await rawBlock(bytesOf(`${seed}${i}`, size))))
}

describe('store/PackedBlockstore', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let metadata: Metadata
  const open: Array<PackedBlockstore> = []

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir('shoal-pack-'))
    metadata = Metadata.open(path.join(dir, 'metadata.db'))
  })
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close().catch(() => {})
    metadata.close()
    await cleanup()
  })

  const openStore = async (init: Partial<PackedBlockstoreInit> = {}): Promise<PackedBlockstore> => {
    const store = await PackedBlockstore.open({ root: dir, metadata, ...init })
    open.push(store)
    return store
  }
  const segments = async (): Promise<string[]> => (await fs.readdir(path.join(dir, 'packs'))).sort()

  it('appends blocks to segment files, starting a new one when the active one is full', async () => {
    const store = await openStore({ segmentBytes: 64 * 1024 })
    const bs = await blocks(20)
    for (const b of bs) await store.put(b.cid, b.bytes)
    await store.sync()
    assert.ok((await segments()).length >= 3, (await segments()).join(' '))
    for (const b of bs) {
      const where = store.locate(b.cid)
      assert.ok(where != null)
      const fd = fsSync.openSync(where.file, 'r')
      const bytes = Buffer.alloc(where.length)
      fsSync.readSync(fd, bytes, 0, where.length, where.offset)
      fsSync.closeSync(fd)
      assert.deepEqual(new Uint8Array(bytes), b.bytes)
    }
  })

  it('a crash loses nothing synced: whole records past the last commit are indexed again, a torn tail is cut off, stray files removed', async () => {
    const crashed = await PackedBlockstore.open({ root: dir, metadata })
    const synced = await blocks(5, 10_000, 's')
    for (const b of synced) await crashed.put(b.cid, b.bytes)
    await crashed.sync()
    const [segment] = await segments()
    const file = path.join(dir, 'packs', segment)
    // puts never synced whose bytes reached the disk anyway (a killed process: the page cache keeps them)
    const unsynced = await blocks(3, 10_000, 'l')
    for (const b of unsynced) await crashed.put(b.cid, b.bytes)
    const whole = (await fs.stat(file)).size
    // a synced block whose index commit was lost (a power cut after the fdatasync)
    const lastSynced = crashed.locate(synced[4].cid)
    assert.ok(lastSynced != null)
    metadata.db.prepare('DELETE FROM pack_blocks WHERE mh = ?').run(synced[4].cid.multihash.bytes)
    // (its record starts 5 header bytes and its 34-byte multihash before its bytes)
    metadata.db.prepare('UPDATE pack_segments SET committed = ? WHERE id = 1').run(lastSynced.offset - 5 - 34)
    // and a torn record, as a power cut mid-write leaves it
    await fs.appendFile(file, bytesOf('torn', 777))
    await fs.writeFile(path.join(dir, 'packs', '00000099.pack'), bytesOf('stray', 100))
    // (the crashed store is never closed: its files stay open, as in a killed process)
    const store = await openStore()
    assert.equal((await fs.stat(file)).size, whole, 'cut at the end of the last whole record')
    assert.deepEqual(await segments(), [segment])
    for (const b of [...synced, ...unsynced]) assert.deepEqual(await store.get(b.cid), b.bytes)
    // and writing goes on where the records end
    const more = await blocks(2, 5000, 'm')
    for (const b of more) await store.put(b.cid, b.bytes)
    await store.sync()
    for (const b of [...synced, ...more]) assert.deepEqual(await store.get(b.cid), b.bytes)
  })

  it('a lost index (a new metadata database) is rebuilt from the segments\' records, each verified; a torn tail ends it', async () => {
    const first = await openStore({ segmentBytes: 64 * 1024 })
    const bs = await blocks(12, 9000)
    for (const b of bs) await first.put(b.cid, b.bytes)
    await first.sync()
    const [rotten, ...good] = bs
    const where = first.locate(rotten.cid)
    await first.close()
    assert.ok(where != null)
    const fd = fsSync.openSync(where.file, 'r+')
    fsSync.writeSync(fd, Buffer.from('rot'), 0, 3, where.offset + 10)
    fsSync.closeSync(fd)
    metadata.close()
    await fs.rm(path.join(dir, 'metadata.db'))
    const segs = await segments()
    await fs.appendFile(path.join(dir, 'packs', segs[segs.length - 1]), bytesOf('torn', 300))
    metadata = Metadata.open(path.join(dir, 'metadata.db'))
    const store = await openStore({ segmentBytes: 64 * 1024 })
    for (const b of good) assert.deepEqual(await store.get(b.cid), b.bytes)
    assert.equal(await store.has(rotten.cid), false, 'a record whose bytes do not match is not indexed')
    let listed = 0
    for await (const _ of store.list()) listed++
    assert.equal(listed, 11)
  })

  it('a block whose bytes went bad is quarantined (a copy kept) and never served; it can be put again', async () => {
    const store = await openStore({ onCorrupt: () => {} })
    const [good, bad] = await blocks(2)
    for (const b of [good, bad]) await store.put(b.cid, b.bytes)
    await store.sync()
    const where = store.locate(bad.cid)
    assert.ok(where != null)
    const fd = fsSync.openSync(where.file, 'r+')
    fsSync.writeSync(fd, Buffer.from('garbage'), 0, 7, where.offset + 100)
    fsSync.closeSync(fd)
    assert.deepEqual(await store.get(bad.cid, { verify: false }).then(b => b.length), bad.bytes.length, 'unverified reads (for a peer that verifies) do not hash')
    await assert.rejects(store.get(bad.cid), CorruptBlockError)
    await assert.rejects(store.get(bad.cid), BlockNotFoundError)
    assert.equal((await fs.readdir(path.join(dir, 'quarantine'))).length, 1)
    assert.deepEqual(await store.get(good.cid), good.bytes)
    await store.put(bad.cid, bad.bytes)
    await store.sync()
    assert.deepEqual(await store.get(bad.cid), bad.bytes)
  })

  it('compaction moves the live blocks out of mostly dead segments and removes them; nothing is lost across a reopen', async () => {
    const store = await openStore({ segmentBytes: 64 * 1024 })
    const bs = await blocks(40, 8000)
    for (const b of bs) await store.put(b.cid, b.bytes)
    await store.sync()
    const before = await segments()
    const kept = bs.filter((_, i) => i % 5 === 0)
    for (const b of bs) if (!kept.includes(b)) await store.delete(b.cid)
    assert.ok(store.usage().deadBytes >= 30 * 8000)
    const result = await store.compact({ sliceBytes: 16 * 1024 })
    assert.ok(result.segments >= before.length - 1, `${result.segments} of ${before.length} segments compacted`)
    assert.ok((await segments()).length < before.length)
    for (const b of kept) assert.deepEqual(await store.get(b.cid), b.bytes)
    assert.ok(store.usage().segmentBytes < 30 * 8000)
    await store.close()
    const again = await openStore({ segmentBytes: 64 * 1024 })
    for (const b of kept) assert.deepEqual(await again.get(b.cid), b.bytes)
    let listed = 0
    for await (const _ of again.list()) listed++
    assert.equal(listed, kept.length)
  })

  it('uncommitted blocks that are deleted (a failed add collected by GC) give their space back at once, in any order', async () => {
    const store = await openStore()
    const [kept] = await blocks(1, 5000, 'k')
    await store.put(kept.cid, kept.bytes)
    await store.sync()
    const [segment] = await segments()
    const file = path.join(dir, 'packs', segment)
    const committed = (await fs.stat(file)).size
    const failed = await blocks(6, 20_000, 'f')
    for (const b of failed) await store.put(b.cid, b.bytes)
    assert.ok((await fs.stat(file)).size > committed + 6 * 20_000)
    for (const i of [2, 0, 5, 1]) await store.delete(failed[i].cid)
    assert.ok((await fs.stat(file)).size > committed, 'two are still there')
    for (const i of [3, 4]) await store.delete(failed[i].cid)
    assert.equal((await fs.stat(file)).size, committed)
    // and writing goes on from there
    await store.put(failed[0].cid, failed[0].bytes)
    await store.sync()
    assert.deepEqual(await store.get(failed[0].cid), failed[0].bytes)
    assert.deepEqual(await store.get(kept.cid), kept.bytes)
  })

  it('flushes a segment ahead of the commit every 32 MiB appended; a flush that failed fails the next commit, and nothing is lost after it', async () => {
    const store = await openStore()
    const bs = await blocks(150, 256 * 1024, 'flush') // 37.5 MiB
    const real = fsSync.fdatasync
    const calls: number[] = []
    let fail = true
    ;(fsSync as any).fdatasync = (fd: number, cb: (err: Error | null) => void) => {
      calls.push(fd)
      if (fail) { fail = false; setImmediate(() => { cb(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })) }); return }
      real(fd, cb)
    }
    try {
      for (const b of bs) await store.put(b.cid, b.bytes)
      assert.equal(calls.length, 1, 'one flush ahead, before any commit')
      await assert.rejects(store.sync(), /EIO/)
      // the commit's own fdatasync is tried again, and the index gets every block
      await store.sync()
      assert.equal(calls.length, 2)
    } finally {
      ;(fsSync as any).fdatasync = real
    }
    for (const b of bs) assert.deepEqual(await store.get(b.cid), b.bytes)
    const rows = metadata.db.prepare('SELECT count(*) AS n FROM pack_blocks').get() as { n: number }
    assert.equal(Number(rows.n), bs.length)
  })

  it('concurrent syncs share commits and every block is in the index once', async () => {
    const store = await openStore()
    const bs = await blocks(30)
    await Promise.all(bs.map(async b => { await store.put(b.cid, b.bytes); await store.sync() }))
    const rows = metadata.db.prepare('SELECT count(*) AS n FROM pack_blocks').get() as { n: number }
    assert.equal(Number(rows.n), 30)
  })
})

describe('store/ContentStore over the packed store', () => {
  let dir: string
  let cleanup: () => Promise<void>
  beforeEach(async () => { ({ dir, cleanup } = await tempDir('shoal-pack-')) })
  afterEach(async () => { await cleanup() })

  it('a flat repo is moved into the packed layout at open, pins and all, and back again', async () => {
    const flat = await ContentStore.open({ dir, layout: 'flat' })
    const bs = await blocks(12)
    for (const b of bs) await flat.blocks.put(b.cid, b.bytes)
    await flat.blocks.sync()
    await flat.pin(bs[0].cid)
    await flat.close()
    await fs.access(path.join(dir, 'blocks'))

    const packed = await ContentStore.open({ dir })
    await assert.rejects(fs.access(path.join(dir, 'blocks')), 'the flat files are gone')
    for (const b of bs) assert.deepEqual(await packed.blocks.get(b.cid), b.bytes)
    assert.equal((await packed.stat()).blocks, 12)
    assert.equal(await packed.isPinned(bs[0].cid), true)
    await packed.close()

    const back = await ContentStore.open({ dir, layout: 'flat' })
    await assert.rejects(fs.access(path.join(dir, 'packs')))
    for (const b of bs) assert.deepEqual(await back.blocks.get(b.cid), b.bytes)
    assert.equal((await back.stat()).blocks, 12)
    await back.close()
  })

  it('GC reclaims the space of what it removed (compaction in the background)', async () => {
    const store = await ContentStore.open({ dir, segmentBytes: 256 * 1024 })
    const bs = await blocks(20, 50_000)
    for (const b of bs) await store.blocks.put(b.cid, b.bytes)
    await store.blocks.sync()
    await store.pin(bs[0].cid)
    const sizeOf = async (): Promise<number> => {
      let total = 0
      for (const f of await fs.readdir(path.join(dir, 'packs'))) total += (await fs.stat(path.join(dir, 'packs', f))).size
      return total
    }
    assert.ok(await sizeOf() >= 20 * 50_000)
    assert.equal((await store.gc()).removedBlocks, 19)
    await store.compacted()
    // what is left: the pinned block (moved if its segment was compacted) and the active segment
    assert.ok(await sizeOf() <= 256 * 1024 + 50_100, `${await sizeOf()} bytes in segments after compaction`)
    assert.deepEqual(await store.blocks.get(bs[0].cid), bs[0].bytes)
    await store.close()
  })

  it('every block acknowledged by sync() survives kill -9 of the writing process', async function () {
    this.timeout(60_000)
    const child = spawn(process.execPath, [...process.execArgv, path.join(import.meta.dirname, '../fixtures/processes/packed-writer.ts'), dir], { stdio: ['ignore', 'pipe', 'inherit'] })
    const synced: string[] = []
    let buffered = ''
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        buffered += chunk.toString()
        const lines = buffered.split('\n')
        buffered = lines.pop() ?? ''
        for (const line of lines) if (line.startsWith('synced ')) synced.push(line.slice(7))
        if (synced.length >= 200) resolve()
      })
      child.on('exit', () => { reject(new Error('the writer exited by itself')) })
    })
    child.kill('SIGKILL')
    await new Promise(resolve => child.once('close', resolve))
    const store = await ContentStore.open({ dir })
    try {
      for (const text of synced) {
        const cid = CID.parse(text)
        assert.ok((await store.blocks.get(cid)).length > 0)
      }
      assert.ok((await store.stat()).blocks >= synced.length)
    } finally {
      await store.close()
    }
  })
})
