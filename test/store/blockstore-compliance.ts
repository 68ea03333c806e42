/**
 * The one compliance suite every Blockstore implementation passes. Call it
 * from a spec with a factory that gives a fresh, empty store.
 */
import assert from 'node:assert/strict'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { sha512 } from 'multiformats/hashes/sha2'
import { AbortedError, BlockNotFoundError, CorruptBlockError, UnsupportedError } from '../../src/errors.ts'
import type { Blockstore } from '../../src/store/blockstore.ts'
import { bytesOf, mhKey, pbNode, rawBlock } from './dag.ts'

export interface BlockstoreUnderTest {
  store: Blockstore
  cleanup?(): Promise<void>
}

export type BlockstoreFactory = () => Promise<BlockstoreUnderTest>

async function listed (store: Blockstore): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for await (const { cid, size } of store.list()) {
    assert.ok(!out.has(mhKey(cid)), `list() reported ${cid} twice`)
    out.set(mhKey(cid), size)
  }
  return out
}

function aborted (): AbortSignal {
  const controller = new AbortController()
  controller.abort()
  return controller.signal
}

export function blockstoreCompliance (name: string, factory: BlockstoreFactory): void {
  describe(`store/blockstore compliance: ${name}`, () => {
    let subject: BlockstoreUnderTest
    let store: Blockstore

    beforeEach(async () => {
      subject = await factory()
      store = subject.store
    })

    afterEach(async () => {
      await subject.cleanup?.()
    })

    it('gets back what was put, verified; has() says so', async () => {
      const block = await rawBlock(bytesOf('a', 5000))
      assert.equal(await store.has(block.cid), false)
      await store.put(block.cid, block.bytes)
      assert.equal(await store.has(block.cid), true)
      assert.deepEqual(await store.get(block.cid), block.bytes)
    })

    it('keeps its own copy: changing the caller\'s buffer after put changes nothing', async () => {
      const bytes = bytesOf('copy', 300)
      const block = await rawBlock(bytes.slice())
      await store.put(block.cid, block.bytes)
      block.bytes.fill(0)
      assert.deepEqual(await store.get(block.cid), bytes)
    })

    it('get of a missing block: BlockNotFoundError naming it', async () => {
      const block = await rawBlock(bytesOf('missing', 10))
      await assert.rejects(store.get(block.cid), (err: unknown) => {
        assert.ok(err instanceof BlockNotFoundError)
        assert.equal(err.cid, block.cid.toString())
        assert.match(err.message, new RegExp(block.cid.toString()))
        return true
      })
    })

    it('put is idempotent', async () => {
      const block = await rawBlock(bytesOf('twice', 100))
      await store.put(block.cid, block.bytes)
      await store.put(block.cid, block.bytes)
      assert.deepEqual([...(await listed(store)).entries()], [[mhKey(block.cid), 100]])
      assert.deepEqual(await store.get(block.cid), block.bytes)
    })

    it('refuses bytes that do not match the CID, and stores nothing', async () => {
      const block = await rawBlock(bytesOf('good', 100))
      const wrong = bytesOf('evil', 100)
      await assert.rejects(store.put(block.cid, wrong), (err: unknown) => {
        assert.ok(err instanceof CorruptBlockError)
        assert.equal(err.cid, block.cid.toString())
        return true
      })
      assert.equal(await store.has(block.cid), false)
      assert.equal((await listed(store)).size, 0)
    })

    it('put({ verified: true }) skips the put-side hash; get still verifies and never serves a wrong claim', async () => {
      const good = await rawBlock(bytesOf('trusted', 100))
      await store.put(good.cid, good.bytes, { verified: true })
      assert.deepEqual(await store.get(good.cid), good.bytes)
      const lie = await rawBlock(bytesOf('claimed', 100))
      await store.put(lie.cid, bytesOf('actual', 100), { verified: true }) // a buggy producer
      await assert.rejects(store.get(lie.cid), CorruptBlockError)
      await assert.rejects(store.get(lie.cid), BlockNotFoundError) // quarantined, not served
      assert.equal(await store.has(lie.cid), false)
      // only sha2-256 can be vouched for: other hash functions are still checked
      const bytes = bytesOf('sha512-trusted', 64)
      await assert.rejects(store.put(CID.createV1(raw.code, await sha512.digest(bytes)), bytes, { verified: true }), UnsupportedError)
    })

    it('refuses a hash function it cannot verify', async () => {
      const bytes = bytesOf('sha512', 64)
      const cid = CID.createV1(raw.code, await sha512.digest(bytes))
      await assert.rejects(store.put(cid, bytes), UnsupportedError)
      assert.equal(await store.has(cid), false)
    })

    it('a CIDv0 and a CIDv1 of the same multihash are one block', async () => {
      const leaf = await rawBlock(bytesOf('leaf', 10))
      const v0 = await pbNode([leaf], { version: 0 })
      const v1 = CID.createV1(dagPb.code, v0.cid.multihash)
      await store.put(v0.cid, v0.bytes)
      assert.equal(await store.has(v1), true)
      assert.deepEqual(await store.get(v1), v0.bytes)
      await store.put(v1, v0.bytes)
      assert.equal((await listed(store)).size, 1)
      await store.delete(v1)
      assert.equal(await store.has(v0.cid), false)
    })

    it('identity CIDs carry their bytes', async () => {
      const bytes = new TextEncoder().encode('inline')
      const cid = CID.createV1(raw.code, identity.digest(bytes))
      await store.put(cid, bytes)
      assert.deepEqual(await store.get(cid), bytes)
      assert.equal(await store.has(cid), true)
    })

    it('delete removes a block; deleting an absent block is fine', async () => {
      const a = await rawBlock(bytesOf('del-a', 100))
      const b = await rawBlock(bytesOf('del-b', 100))
      await store.put(a.cid, a.bytes)
      await store.put(b.cid, b.bytes)
      await store.delete(a.cid)
      assert.equal(await store.has(a.cid), false)
      await assert.rejects(store.get(a.cid), BlockNotFoundError)
      assert.deepEqual(await store.get(b.cid), b.bytes)
      await store.delete(a.cid)
      await store.sync()
      assert.deepEqual([...(await listed(store)).keys()], [mhKey(b.cid)])
    })

    it('list() reports every block once with its size', async () => {
      const blocks = await Promise.all([1, 200, 4096, 70_000].map(async (size, i) => await rawBlock(bytesOf(`list-${i}`, size))))
      const node = await pbNode(blocks)
      for (const b of [...blocks, node]) await store.put(b.cid, b.bytes)
      const seen = await listed(store)
      assert.deepEqual(new Map([...blocks, node].map(b => [mhKey(b.cid), b.bytes.length])), seen)
      // what list() reports can be read back
      for await (const { cid } of store.list()) assert.ok((await store.get(cid)).length > 0)
    })

    it('honours an aborted signal: no put, get, has, delete, list or sync runs', async () => {
      const block = await rawBlock(bytesOf('abort', 100))
      await assert.rejects(store.put(block.cid, block.bytes, { signal: aborted() }), AbortedError)
      assert.equal(await store.has(block.cid), false)
      await store.put(block.cid, block.bytes)
      await assert.rejects(store.get(block.cid, { signal: aborted() }), AbortedError)
      await assert.rejects(store.has(block.cid, { signal: aborted() }), AbortedError)
      await assert.rejects(store.delete(block.cid, { signal: aborted() }), AbortedError)
      assert.equal(await store.has(block.cid), true)
      await assert.rejects((async () => { for await (const _ of store.list({ signal: aborted() })) { /* nothing */ } })(), AbortedError)
      await assert.rejects(store.sync({ signal: aborted() }), AbortedError)
      await assert.rejects(store.putMany([block], { signal: aborted() }), AbortedError)
    })

    it('concurrent puts of the same block all succeed and store it once', async () => {
      const block = await rawBlock(bytesOf('same', 100_000))
      await Promise.all(Array.from({ length: 20 }, async () => { await store.put(block.cid, block.bytes) }))
      assert.deepEqual([...(await listed(store)).entries()], [[mhKey(block.cid), 100_000]])
      assert.deepEqual(await store.get(block.cid), block.bytes)
    })

    it('concurrent puts of different blocks, and putMany, store them all', async () => {
      const blocks = await Promise.all(Array.from({ length: 40 }, async (_, i) => await rawBlock(bytesOf(`many-${i}`, 1000 + i))))
      await Promise.all(blocks.slice(0, 20).map(async b => { await store.put(b.cid, b.bytes) }))
      await store.putMany(blocks.slice(20), { concurrency: 4 })
      await store.sync()
      const seen = await listed(store)
      assert.equal(seen.size, 40)
      for (const b of blocks) assert.deepEqual(await store.get(b.cid), b.bytes)
    })

    it('putMany rejects when one block is bad', async () => {
      const good = await rawBlock(bytesOf('pm-good', 10))
      const bad = { cid: (await rawBlock(bytesOf('pm-x', 10))).cid, bytes: bytesOf('pm-y', 10) }
      await assert.rejects(store.putMany([good, bad]), CorruptBlockError)
      assert.equal(await store.has(bad.cid), false)
    })

    it('a deleted block can be put again', async () => {
      const block = await rawBlock(bytesOf('again', 100))
      await store.put(block.cid, block.bytes)
      await store.delete(block.cid)
      await store.put(block.cid, block.bytes)
      assert.deepEqual(await store.get(block.cid), block.bytes)
    })
  })
}
