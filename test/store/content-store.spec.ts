import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { CID } from 'multiformats/cid'
import * as dagPb from '@ipld/dag-pb'
import { AbortedError, BlockNotFoundError, CorruptBlockError, InvalidArgumentError, NotPinnedError } from '../../src/errors.ts'
import type { Block } from '../../src/store/blockstore.ts'
import { ContentStore, RwLock, type ContentStoreInit, type PinProgressEvent } from '../../src/store/content-store.ts'
import { FsBlockstore } from '../../src/store/fs-blockstore.ts'
import { MemoryBlockstore } from '../../src/store/memory-blockstore.ts'
import { tempDir } from '../helpers/tmp.ts'
import { buildDag, bytesOf, rawBlock, sleep } from './dag.ts'
import { corruptBlock } from '../helpers/blocks.ts'

const sum = (blocks: Block[]): number => blocks.reduce((n, b) => n + b.bytes.length, 0)

describe('store/ContentStore', () => {
  let dir: string
  let cleanup: () => Promise<void>
  const opened: ContentStore[] = []

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir('shoal-cs-'))
  })

  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close().catch(() => {})
    await cleanup()
  })

  const open = async (init: Partial<ContentStoreInit> = {}): Promise<ContentStore> => {
    const store = await ContentStore.open({ dir, ...init })
    opened.push(store)
    return store
  }

  const putAll = async (store: ContentStore, blocks: Block[]): Promise<void> => {
    await store.blocks.putMany(blocks)
    await store.blocks.sync()
  }

  const present = async (store: ContentStore, blocks: Block[]): Promise<boolean[]> =>
    await Promise.all(blocks.map(async b => await store.blocks.has(b.cid)))

  describe('pins', () => {
    it('a recursive pin covers the whole DAG, counted once per distinct block', async () => {
      const store = await open({ now: () => 1_700_000_000_000 })
      const shared = await rawBlock(bytesOf('twice', 500))
      const other = await rawBlock(bytesOf('once', 700))
      const dag = await buildDag('dup', { leaves: [shared, shared, other], perGroup: 2 })
      await putAll(store, dag.blocks)
      const events: PinProgressEvent[] = []
      const pin = await store.pin(dag.root.cid, { name: 'photos', onProgress: e => { events.push(e) } })
      const distinct = [dag.root, ...dag.blocks.slice(1, 3), shared, other]
      assert.equal(pin.cid.toString(), dag.root.cid.toString())
      assert.equal(pin.mode, 'recursive')
      assert.equal(pin.name, 'photos')
      assert.equal(pin.created.getTime(), 1_700_000_000_000)
      assert.equal(pin.blocks, distinct.length)
      assert.equal(pin.bytes, sum(distinct))
      assert.equal(events.length, distinct.length)
      assert.equal(events.at(-1)?.detail.bytes, sum(distinct))
      for (const b of dag.blocks) assert.equal(await store.isPinned(b.cid), true)
      assert.deepEqual((await store.listPins()).map(p => p.cid.toString()), [dag.root.cid.toString()])
    })

    it('pinning an incomplete DAG fails naming the missing block, and pins nothing', async () => {
      const store = await open()
      const dag = await buildDag('holes', { groups: 3, perGroup: 4 })
      const missing = dag.leaves[7]
      await putAll(store, dag.blocks.filter(b => b !== missing))
      await assert.rejects(store.pin(dag.root.cid), (err: unknown) => {
        assert.ok(err instanceof BlockNotFoundError)
        assert.equal(err.cid, missing.cid.toString())
        assert.ok(err.message.includes(missing.cid.toString()), err.message)
        assert.ok(err.message.includes(dag.root.cid.toString()), err.message)
        return true
      })
      assert.deepEqual(await store.listPins(), [])
      for (const b of dag.blocks) assert.equal(await store.isPinned(b.cid), false)
      assert.equal((await store.stat()).pins, 0)
      // nothing protects the blocks: gc takes them all
      assert.equal((await store.gc()).removedBlocks, dag.blocks.length - 1)
    })

    it('pinning a root that is not stored says so', async () => {
      const store = await open()
      const dag = await buildDag('no-root')
      await assert.rejects(store.pin(dag.root.cid), (err: unknown) =>
        err instanceof BlockNotFoundError && err.cid === dag.root.cid.toString() && /root block is not stored/.test(err.message))
    })

    it('a corrupted block in the DAG fails the pin and pins nothing', async () => {
      const store = await open()
      const dag = await buildDag('rotten')
      await putAll(store, dag.blocks)
      const victim = dag.leaves[2]
      await corruptBlock(store, victim.cid)
      await assert.rejects(store.pin(dag.root.cid), (err: unknown) => err instanceof CorruptBlockError && err.cid === victim.cid.toString())
      assert.deepEqual(await store.listPins(), [])
      assert.equal(await store.blocks.has(victim.cid), false) // quarantined
    })

    it('an aborted pin pins nothing', async () => {
      const store = await open()
      const dag = await buildDag('abort', { groups: 4, perGroup: 4 })
      await putAll(store, dag.blocks)
      const controller = new AbortController()
      await assert.rejects(store.pin(dag.root.cid, {
        signal: controller.signal,
        onProgress: (e) => { if (e.detail.blocks === 3) controller.abort() }
      }), AbortedError)
      assert.deepEqual(await store.listPins(), [])
      assert.equal(await store.isPinned(dag.leaves[0].cid), false)
    })

    it('a direct pin covers only its root; it can become recursive, not the other way', async () => {
      const store = await open()
      const dag = await buildDag('direct')
      await putAll(store, dag.blocks)
      const direct = await store.pin(dag.root.cid, { recursive: false })
      assert.deepEqual([direct.mode, direct.blocks, direct.bytes], ['direct', 1, dag.root.bytes.length])
      assert.equal(await store.isPinned(dag.root.cid), true)
      assert.equal(await store.isPinned(dag.leaves[0].cid), false)
      assert.deepEqual(await store.pin(dag.root.cid, { recursive: false }), direct) // again: nothing changes

      const recursive = await store.pin(dag.root.cid)
      assert.deepEqual([recursive.mode, recursive.blocks], ['recursive', dag.blocks.length])
      assert.equal(await store.isPinned(dag.leaves[0].cid), true)
      assert.equal((await store.listPins()).length, 1)
      await assert.rejects(store.pin(dag.root.cid, { recursive: false }), (err: unknown) =>
        err instanceof InvalidArgumentError && /already pinned recursively/.test(err.message))
    })

    it('a CIDv0 root and its v1 form are one pin', async () => {
      const store = await open()
      const dag = await buildDag('v0', { version: 0 })
      assert.equal(dag.root.cid.version, 0)
      await putAll(store, dag.blocks)
      const pin = await store.pin(dag.root.cid)
      const v1 = CID.createV1(dagPb.code, dag.root.cid.multihash)
      assert.equal(pin.cid.toString(), v1.toString())
      assert.equal((await store.getPin(v1))?.blocks, dag.blocks.length)
      assert.equal((await store.getPin(dag.root.cid))?.blocks, dag.blocks.length)
      await store.pin(v1) // already pinned
      assert.equal((await store.listPins()).length, 1)
      await store.unpin(v1)
      assert.deepEqual(await store.listPins(), [])
      assert.equal(await store.isPinned(dag.root.cid), false)
    })

    it('unpin of something that is not a pin root is a clear error', async () => {
      const store = await open()
      const dag = await buildDag('unpin')
      await putAll(store, dag.blocks)
      await assert.rejects(store.unpin(dag.root.cid), (err: unknown) =>
        err instanceof NotPinnedError && err.code === 'ERR_NOT_PINNED' && err.message === `Cannot unpin "${dag.root.cid}": it is not pinned`)
      await store.pin(dag.root.cid)
      await assert.rejects(store.unpin(dag.leaves[0].cid), (err: unknown) =>
        err instanceof NotPinnedError && /not a pin root \(it is inside 1 pinned DAG;/.test(err.message))
      await store.unpin(dag.root.cid)
      await assert.rejects(store.unpin(dag.root.cid), NotPinnedError)
    })
  })

  describe('gc', () => {
    it('two pins share blocks: unpinning one keeps what the other still covers', async () => {
      const store = await open()
      const common = await Promise.all([0, 1].map(async i => await rawBlock(bytesOf(`common-${i}`, 2000))))
      const onlyA = await Promise.all([0, 1].map(async i => await rawBlock(bytesOf(`only-a-${i}`, 1000))))
      const onlyB = await rawBlock(bytesOf('only-b', 3000))
      const a = await buildDag('a', { leaves: [...common, ...onlyA], perGroup: 2 })
      const b = await buildDag('b', { leaves: [onlyB, ...common], perGroup: 3 })
      const unpinned = await rawBlock(bytesOf('loose', 10))
      await putAll(store, [...a.blocks, ...b.blocks, unpinned])
      await store.pin(a.root.cid)
      await store.pin(b.root.cid)
      assert.equal(store.metadata.pinCount(common[0].cid.multihash.bytes), 2)

      assert.deepEqual(await store.gc(), { removedBlocks: 1, freedBytes: 10 })
      await store.unpin(a.root.cid)
      const bBlocks = new Set(b.blocks.map(x => x.cid.toString()))
      const aOnly = a.blocks.filter(x => !bBlocks.has(x.cid.toString()))
      assert.equal(aOnly.length, 1 + 2 + 2) // root, two interior nodes, two leaves
      const result = await store.gc()
      assert.deepEqual(result, { removedBlocks: aOnly.length, freedBytes: sum(aOnly) })
      assert.deepEqual(await present(store, aOnly), aOnly.map(() => false))
      for (const x of b.blocks) assert.deepEqual(await store.blocks.get(x.cid), x.bytes)
      assert.equal(await store.isPinned(common[0].cid), true)

      await store.unpin(b.root.cid)
      assert.deepEqual(await store.gc(), { removedBlocks: b.blocks.length, freedBytes: sum(b.blocks) })
      const stat = await store.stat()
      assert.deepEqual([stat.blocks, stat.bytes, stat.pins], [0, 0, 0])
    })

    it('waits for an add in progress and removes none of its blocks', async () => {
      const store = await open()
      const junk = await rawBlock(bytesOf('junk', 100))
      const dag = await buildDag('slow-add', { groups: 2, perGroup: 3 })
      // stored earlier and unpinned: the add deduplicates against it
      await putAll(store, [junk, dag.leaves[0]])
      const order: string[] = []
      let putOne!: () => void
      const firstPut = new Promise<void>(resolve => { putOne = resolve })
      const add = store.writeSession(async () => {
        for (const block of [...dag.blocks].reverse()) { // leaves first, as an importer writes
          await store.blocks.put(block.cid, block.bytes)
          putOne()
          await sleep(15)
        }
        await store.blocks.sync()
        order.push('add: pinning')
        await store.pin(dag.root.cid) // inside the session, with gc waiting: must not deadlock
        order.push('add: done')
      })
      await firstPut
      const gc = store.gc().then(result => { order.push('gc: done'); return result })
      await sleep(40)
      assert.equal(order.length, 0, 'gc finished while the add was running')
      // a second add arriving now waits for gc (gc is not starved)
      const later = store.writeSession(async () => { order.push('later add') })
      await add
      const result = await gc
      await later
      assert.deepEqual(order, ['add: pinning', 'add: done', 'gc: done', 'later add'])
      assert.deepEqual(result, { removedBlocks: 1, freedBytes: 100 })
      assert.deepEqual(await present(store, dag.blocks), dag.blocks.map(() => true))
      assert.equal(await store.blocks.has(junk.cid), false)
    })

    it('keeps blocks held for the network until they are released', async () => {
      const store = await open()
      const held = await rawBlock(bytesOf('held', 321))
      await putAll(store, [held])
      await store.hold(held.cid, { replicas: ['peer-a', 'peer-b'] })
      assert.equal(await store.isHeld(held.cid), true)
      assert.equal(store.metadata.getHeld(held.cid.multihash.bytes)?.replicas, '["peer-a","peer-b"]')
      assert.deepEqual(await store.gc(), { removedBlocks: 0, freedBytes: 0 })
      assert.equal(await store.blocks.has(held.cid), true)
      assert.equal(await store.release(held.cid), true)
      assert.equal(await store.release(held.cid), false)
      assert.deepEqual(await store.gc(), { removedBlocks: 1, freedBytes: 321 })
      assert.equal(await store.blocks.has(held.cid), false)
    })

    it('reports progress, counts its runs, and stops when aborted', async () => {
      const store = await open()
      const blocks = await Promise.all(Array.from({ length: 5 }, async (_, i) => await rawBlock(bytesOf(`g-${i}`, 10))))
      await putAll(store, blocks)
      const controller = new AbortController()
      const seen: number[] = []
      await assert.rejects(store.gc({
        signal: controller.signal,
        onProgress: (e) => { seen.push(e.detail.removedBlocks); if (e.detail.removedBlocks === 2) controller.abort() }
      }), AbortedError)
      assert.deepEqual(seen, [1, 2])
      assert.equal((await store.stat()).blocks, 3)
      const events: number[] = []
      assert.deepEqual(await store.gc({ onProgress: e => { events.push(e.detail.freedBytes) } }), { removedBlocks: 3, freedBytes: 30 })
      assert.deepEqual(events, [10, 20, 30])
      assert.equal(store.metadata.stat('gc_runs'), 2)
      assert.equal(store.metadata.stat('gc_removed_blocks'), 5)
      await assert.rejects(store.gc({ signal: AbortSignal.abort() }), AbortedError)
    })

    it('cannot be called from inside a write session (it would wait forever)', async () => {
      const store = await open()
      await assert.rejects(store.writeSession(async () => await store.gc()), (err: unknown) =>
        err instanceof InvalidArgumentError && /inside a writeSession/.test(err.message))
    })
  })

  describe('stat and the block index', () => {
    it('counts blocks and bytes once each (duplicates and v0/v1 twins included), pins, and the disk', async () => {
      const store = await open()
      const blocks = await Promise.all([100, 2000, 30_000].map(async (n, i) => await rawBlock(bytesOf(`s-${i}`, n))))
      const dag = await buildDag('stat', { version: 0, groups: 1, perGroup: 1 })
      await putAll(store, [...blocks, ...blocks, ...dag.blocks])
      await store.blocks.put(CID.createV1(dagPb.code, dag.root.cid.multihash), dag.root.bytes)
      await store.pin(dag.root.cid)
      const stat = await store.stat()
      const fsStat = await fs.statfs(dir)
      assert.equal(stat.blocks, 3 + dag.blocks.length)
      assert.equal(stat.bytes, 32_100 + sum(dag.blocks))
      assert.equal(stat.pins, 1)
      assert.equal(stat.totalBytes, fsStat.blocks * fsStat.bsize)
      assert.ok(stat.freeBytes > 0 && stat.freeBytes <= stat.totalBytes)

      await store.blocks.delete(blocks[1].cid)
      assert.deepEqual([(await store.stat()).blocks, (await store.stat()).bytes], [2 + dag.blocks.length, 30_100 + sum(dag.blocks)])
    })

    it('is rebuilt from the blockstore after an unclean shutdown', async () => {
      const first = await open({ layout: 'flat' })
      const blocks = await Promise.all(Array.from({ length: 4 }, async (_, i) => await rawBlock(bytesOf(`crash-${i}`, 1000 * (i + 1)))))
      await putAll(first, blocks.slice(0, 3))
      first.metadata.close() // the process dies: no close(), the `open` flag stays set
      opened.splice(opened.indexOf(first), 1)
      // meanwhile the disk changed behind the index's back
      const fsStore = await FsBlockstore.open({ root: dir })
      await fsStore.delete(blocks[0].cid)
      await fsStore.put(blocks[3].cid, blocks[3].bytes)

      const store = await open({ layout: 'flat' })
      const stat = await store.stat()
      assert.equal(stat.blocks, 3)
      assert.equal(stat.bytes, 2000 + 3000 + 4000)
      await store.close()
      // a clean close is not rebuilt: an index change made while closed stays visible
      const meta = (await import('../../src/store/metadata.ts')).Metadata.open(path.join(dir, 'metadata.db'))
      meta.addBlocks([{ mh: new Uint8Array([0x12, 0x20, ...new Uint8Array(32)]), size: 1 }])
      meta.close()
      assert.equal((await (await open({ layout: 'flat' })).stat()).blocks, 4)
    })

    it('a new metadata database over existing blocks indexes them', async () => {
      const fsStore = await FsBlockstore.open({ root: dir })
      const blocks = await Promise.all(Array.from({ length: 3 }, async (_, i) => await rawBlock(bytesOf(`pre-${i}`, 10 + i))))
      await fsStore.putMany(blocks)
      const store = await open({ layout: 'flat' })
      assert.deepEqual([(await store.stat()).blocks, (await store.stat()).bytes], [3, 33])
    })

    it('a corrupted block leaves the index when it is quarantined', async () => {
      const reports: string[] = []
      const store = await open({ onCorrupt: (cid) => { reports.push(cid.toString()) } })
      const block = await rawBlock(bytesOf('bad', 1000))
      await putAll(store, [block])
      await corruptBlock(store, block.cid)
      await assert.rejects(store.blocks.get(block.cid), CorruptBlockError)
      assert.deepEqual(reports, [block.cid.toString()])
      assert.equal((await store.stat()).blocks, 0)
    })

    it('works over any Blockstore (here the memory one)', async () => {
      const memory = new MemoryBlockstore()
      const store = await open({ blockstore: memory })
      const dag = await buildDag('mem')
      await putAll(store, dag.blocks)
      await store.pin(dag.root.cid)
      const loose = await rawBlock(bytesOf('mem-loose', 5))
      await store.blocks.put(loose.cid, loose.bytes)
      assert.deepEqual(await store.gc(), { removedBlocks: 1, freedBytes: 5 })
      assert.equal(await memory.has(loose.cid), false)
      assert.equal((await store.stat()).blocks, dag.blocks.length)
    })
  })

  describe('lifecycle', () => {
    it('close waits for running sessions; the store refuses work afterwards', async () => {
      const store = await open()
      const block = await rawBlock(bytesOf('late', 10))
      let finished = false
      const session = store.writeSession(async () => {
        await sleep(30)
        await store.blocks.put(block.cid, block.bytes)
        finished = true
      })
      await sleep(5)
      await store.close()
      assert.equal(finished, true)
      await session
      await assert.rejects(store.pin(block.cid), InvalidArgumentError)
      await assert.rejects(store.stat(), /is closed/)
      const again = await open()
      assert.equal((await again.stat()).blocks, 1)
    })
  })
})

describe('store/RwLock', () => {
  it('readers share; a writer waits for them; readers arriving after a waiting writer wait for it', async () => {
    const lock = new RwLock()
    const order: string[] = []
    const r1 = await lock.acquire(false)
    const r2 = await lock.acquire(false)
    const w = lock.acquire(true).then(release => { order.push('writer'); return release })
    const r3 = lock.acquire(false).then(release => { order.push('reader 3'); return release })
    await sleep(5)
    assert.deepEqual(order, [])
    assert.deepEqual(lock.state, { readers: 2, writer: false, waiting: 2 })
    r1()
    r2()
    const releaseWriter = await w
    await sleep(5)
    assert.deepEqual(order, ['writer'])
    releaseWriter()
    ;(await r3)()
    assert.deepEqual(order, ['writer', 'reader 3'])
    assert.deepEqual(lock.state, { readers: 0, writer: false, waiting: 0 })
  })

  it('an aborted wait leaves the queue and lets the others through', async () => {
    const lock = new RwLock()
    const reader = await lock.acquire(false)
    const controller = new AbortController()
    const writer = lock.acquire(true, controller.signal)
    const next = lock.acquire(false)
    controller.abort()
    await assert.rejects(writer, AbortedError)
    ;(await next)()
    reader()
    assert.deepEqual(lock.state, { readers: 0, writer: false, waiting: 0 })
  })
})
