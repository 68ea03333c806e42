import assert from 'node:assert/strict'
import { BlockNotFoundError, CorruptBlockError } from '../../src/errors.ts'
import { blockKey } from '../../src/store/blockstore.ts'
import { MemoryBlockstore } from '../../src/store/memory-blockstore.ts'
import { blockstoreCompliance } from './blockstore-compliance.ts'
import { bytesOf, rawBlock } from './dag.ts'

blockstoreCompliance('MemoryBlockstore', async () => ({ store: new MemoryBlockstore() }))

describe('store/MemoryBlockstore', () => {
  it('a block whose bytes went bad is quarantined and never served again', async () => {
    const corrupt: string[] = []
    const store = new MemoryBlockstore({ onCorrupt: (cid) => { corrupt.push(cid.toString()) } })
    const block = await rawBlock(bytesOf('rot', 100))
    await store.put(block.cid, block.bytes)
    store.tamper(block.cid, bytesOf('other', 100))
    await assert.rejects(store.get(block.cid), CorruptBlockError)
    assert.deepEqual(corrupt, [block.cid.toString()])
    assert.ok(store.quarantined.has(blockKey(block.cid)))
    assert.equal(await store.has(block.cid), false)
    await assert.rejects(store.get(block.cid), BlockNotFoundError)
  })
})
