import assert from 'node:assert/strict'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { NameNotFoundError } from '../../src/errors.ts'
import { decodeRecord } from '../../src/names/record.ts'
import { NameService } from '../../src/names/service.ts'
import { NameStore } from '../../src/names/storage.ts'
import { ReplicationPolicy } from '../../src/replication/policy.ts'
import { Metadata } from '../../src/store/metadata.ts'
import { CIDS, testNode } from './helpers.ts'
import type { TestNode } from './helpers.ts'

const [X, Y, Z] = CIDS

describe('names/service on one node', () => {
  let me: TestNode
  let self: PeerId
  let meta: Metadata
  let storage: NameStore
  let names: NameService
  let now = 1_750_000_000_000

  beforeEach(async () => {
    me = await testNode(7)
    self = peerIdFromString(me.id)
    meta = Metadata.open(':memory:')
    storage = NameStore.open(meta, { now: () => now })
    const membership = {
      self,
      peers: () => [],
      replicaSet: () => [self],
      lookupReplicaSet: async () => [self],
      onChange: () => () => {}
    }
    names = new NameService({
      privateKey: me.privateKey,
      membership,
      dial: async () => { throw new Error('no network in this test') },
      storage,
      policy: new ReplicationPolicy({ k: 1 }),
      now: () => now,
      tombstoneGraceMs: 1000,
      syncIntervalMs: 0
    })
  })
  afterEach(async () => {
    await names.stop()
    meta.close()
  })

  it('blind writes become siblings; a write with the context read replaces them', async () => {
    const first = await names.put('/docs//a.txt', { cid: X, size: 1 })
    assert.equal(first.path, '/docs/a.txt', 'normalised')
    assert.equal(first.written.version, `${me.id}:1`)
    assert.deepEqual(first.replicas, { confirmed: 1, quorum: 1, replicaSet: 1 })
    now += 10
    const second = await names.put('/docs/a.txt', { cid: Y, size: 2 })
    assert.equal(second.conflict, true)
    assert.deepEqual(second.siblings.map(s => s.cid), [Y, X], 'latest mtime first')
    const read = await names.get('/docs/a.txt')
    assert.equal(read.value?.cid, Y)
    assert.deepEqual(read.replicas, { asked: 1, answered: 1 })
    const third = await names.put('/docs/a.txt', { cid: Z, size: 3, meta: { by: 'test' } }, { context: read.context })
    assert.equal(third.replaced, 2)
    assert.deepEqual(third.siblings.map(s => [s.cid, s.meta]), [[Z, { by: 'test' }]])
    assert.deepEqual((await names.list('/docs')).map(n => [n.path, n.value?.cid]), [['/docs/a.txt', Z]])
    assert.deepEqual(await names.list('/doc'), [], 'a prefix is a directory, not a string prefix')
    assert.deepEqual(await names.conflicts(), [])
  })

  it('resolve keeps one value with the size of the sibling that had it', async () => {
    await names.put('/r', { cid: X, size: 11, mode: 0o644 })
    await names.put('/r', { cid: Y, size: 22 })
    const resolved = await names.resolve('/r', X)
    assert.equal(resolved.conflict, false)
    assert.equal(resolved.written.size, 11)
    assert.equal(resolved.written.mode, 0o644)
    await assert.rejects(names.resolve('/r', Z), /the size of .* was not given|cannot find the size/)
  })

  it('rm deletes what it read; the tombstone is collected after the grace period, and the counter is never reused', async () => {
    await assert.rejects(names.remove('/gone'), NameNotFoundError)
    await names.put('/t', { cid: X, size: 1 })
    await names.put('/t', { cid: Y, size: 1 })
    const rm = await names.remove('/t')
    assert.equal(rm.exists, false)
    assert.equal(rm.replaced, 2)
    assert.equal(rm.written.deleted, true)
    assert.deepEqual(names.sweep().collected, [], 'within the grace period')
    now += 1000
    assert.deepEqual(names.sweep().collected, ['/t'])
    assert.equal(storage.getName('/t'), undefined)
    assert.ok(storage.getNameGrave('/t') != null, 'kept aside one more grace period')
    const again = await names.put('/t', { cid: Z, size: 1 })
    assert.equal(again.written.version, `${me.id}:4`, 'a dot this node never used for /t')
    assert.equal(storage.getNameGrave('/t'), undefined)
    assert.deepEqual(decodeRecord(storage.getName('/t')?.record as Uint8Array).siblings.length, 2, 'the new value and the collected tombstone (concurrent with it)')
    now += 2000
    names.sweep()
    assert.equal(storage.getNameGrave('/t'), undefined)
  })

  it('keeps a live record and its deletion time straight in the store', async () => {
    await names.put('/s', { cid: X, size: 1 })
    assert.equal(storage.getName('/s')?.live, true)
    assert.equal(storage.getName('/s')?.deadSince, undefined)
    await names.remove('/s')
    const dead = storage.getName('/s')
    assert.equal(dead?.live, false)
    assert.equal(dead?.deadSince, now)
    now += 500
    // another tombstone arriving later does not restart the grace period
    await names.remove('/s', { context: (await names.get('/s')).context })
    assert.equal(storage.getName('/s')?.deadSince, dead?.deadSince)
    assert.equal(storage.nameCounter('/s'), 3)
  })

  it('refuses bad input with one clear error', async () => {
    await assert.rejects(names.put('relative', { cid: X, size: 1 }), /must start with "\/"/)
    await assert.rejects(names.put('/a', { cid: 'not-a-cid', size: 1 }), /^InvalidCidError: Invalid CID "not-a-cid": /)
    await assert.rejects(names.put('/a', { cid: X }), /the size of .* was not given/)
    await assert.rejects(names.put('/a', { cid: X, size: 1 }, { context: '!!' }), /Invalid context token/)
  })
})
