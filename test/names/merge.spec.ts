import assert from 'node:assert/strict'
import { InvalidArgumentError } from '../../src/errors.ts'
import { createContext } from '../../src/names/dvv.ts'
import {
  SIBLING_WARN, canCollectTombstone, conflicts, mergeRecords, recordContext, resolveView, writeRecord
} from '../../src/names/merge.ts'
import type { NameValueInput, WriteResult } from '../../src/names/merge.ts'
import { decodeContext, encodeRecord, verifyRecord } from '../../src/names/record.ts'
import type { FileValue, NameRecord } from '../../src/names/record.ts'
import { CIDS, testNodes } from './helpers.ts'
import type { TestNode } from './helpers.ts'

const KEY = '/docs/report.txt'
const HOUR = 3_600_000
const T0 = 1_750_000_000_000

describe('names/merge', () => {
  let a: TestNode
  let b: TestNode
  let c: TestNode

  before(async () => { [a, b, c] = await testNodes(3) })

  /** A write of `size` (a handle on the value) by `node`, with the context of `read` (a token), at `now`. */
  async function put (current: NameRecord | undefined, node: TestNode, value: NameValueInput, read?: NameRecord | string, now = T0): Promise<WriteResult> {
    const token = typeof read === 'string' ? read : read === undefined ? undefined : resolveView(read).context
    return writeRecord(current, { key: KEY, value, context: token == null ? undefined : decodeContext(token), actor: node.id, privateKey: node.privateKey, now })
  }
  const file = (size: number, cid = CIDS[size % CIDS.length]): NameValueInput => ({ cid, size })
  const sizes = (r: NameRecord | undefined): number[] => resolveView(r).values.map(v => v.size).sort((x, y) => x - y)

  it('concurrent writes become siblings, on one coordinator or two', async () => {
    // two clients who read nothing write through the same node
    const w1 = await put(undefined, a, file(1))
    const w2 = await put(w1.record, a, file(2))
    assert.deepEqual(sizes(w2.record), [1, 2])
    assert.equal(w2.replaced.length, 0)
    assert.equal(conflicts(w2.record), true)
    // and through another node
    const w3 = await put(undefined, b, file(3))
    const merged = mergeRecords(w2.record, w3.record)
    assert.deepEqual(sizes(merged), [1, 2, 3])
    assert.equal(resolveView(merged).conflict, true)
    await verifyRecord(merged)
  })

  it('a write with the joined context resolves the siblings into one', async () => {
    const w1 = await put(undefined, a, file(1))
    const w2 = await put(undefined, b, file(2))
    const both = mergeRecords(w1.record, w2.record)
    const w3 = await put(both, c, file(3), both)
    assert.deepEqual(sizes(w3.record), [3])
    assert.equal(w3.replaced.length, 2)
    assert.equal(conflicts(w3.record), false)
    // the other replicas converge to the same, whatever they held
    assert.deepEqual(encodeRecord(mergeRecords(w1.record, w3.record)), encodeRecord(w3.record))
    assert.deepEqual(encodeRecord(mergeRecords(w2.record, w3.record)), encodeRecord(w3.record))
  })

  it('a write replaces exactly the siblings its context covers (no sibling explosion)', async () => {
    const w1 = await put(undefined, a, file(1))
    const w2 = await put(w1.record, a, file(2)) // concurrent with 1
    const sawOnly1 = w1.record
    const w3 = await put(w2.record, a, file(3), sawOnly1)
    assert.deepEqual(sizes(w3.record), [2, 3])
    assert.deepEqual(w3.replaced.map(s => (s.value as FileValue).size), [1])
    // a client who saw everything resolves both at once, through any node
    const w4 = await put(w3.record, b, file(4), w3.record)
    assert.deepEqual(sizes(w4.record), [4])
  })

  it('a stale write does not overwrite a newer one: it becomes a sibling', async () => {
    const w1 = await put(undefined, a, file(1))
    const staleToken = resolveView(w1.record).context
    const w2 = await put(w1.record, a, file(2), w1.record) // fresh: replaces 1
    assert.deepEqual(sizes(w2.record), [2])
    const w3 = await put(w2.record, a, file(3), staleToken) // stale: saw 1, not 2
    assert.deepEqual(sizes(w3.record), [2, 3])
    assert.equal(conflicts(w3.record), true)
  })

  it('the context of a replica that got a later write alone does not cover the earlier one it never saw', async () => {
    // (A,1) and (A,2) are concurrent blind writes; a replica receives only (A,2), as a one-sibling record
    const w1 = await put(undefined, a, file(1))
    const w2 = await put(w1.record, a, file(2))
    const onlyLater: NameRecord = { key: KEY, siblings: [w2.written] }
    const view = resolveView(onlyLater)
    assert.deepEqual(decodeContext(view.context).vector, {}, 'a plain version vector would claim {A:2} here, which covers (A,1)')
    const w3 = await put(onlyLater, b, file(3), onlyLater)
    assert.deepEqual(sizes(mergeRecords(w2.record, w3.record)), [1, 3])
  })

  it('the wall clock never affects causality, only which value is shown first', async () => {
    // a node whose clock is 5 hours ahead writes first
    const ahead = await put(undefined, a, file(1), undefined, T0 + 5 * HOUR)
    // a node with a correct clock writes later, having read it: it replaces it despite an older mtime
    const later = await put(ahead.record, b, file(2), ahead.record, T0)
    assert.deepEqual(sizes(later.record), [2])
    assert.equal(resolveView(later.record).value?.mtime, T0)

    // concurrent writes: the skewed clock decides only the default winner
    const base = await put(undefined, c, file(3), undefined, T0)
    const x = await put(base.record, a, file(4), base.record, T0 - 5 * HOUR) // clock behind
    const y = await put(base.record, b, file(5), base.record, T0 + 1)
    const xy = mergeRecords(x.record, y.record)
    assert.deepEqual(sizes(xy), [4, 5])
    assert.equal(resolveView(xy).value?.size, 5)
    // the same writes with the clocks the other way round keep the same values; only the winner changes
    const x2 = await put(base.record, a, file(4), base.record, T0 + 5 * HOUR)
    const xy2 = mergeRecords(x2.record, y.record)
    assert.deepEqual(sizes(xy2), [4, 5])
    assert.equal(resolveView(xy2).value?.size, 4)
    assert.deepEqual(xy2.siblings.map(s => [s.dot, s.context]), xy.siblings.map(s => [s.dot, s.context]))
  })

  it('the default winner is deterministic: latest mtime, then owner peer id', async () => {
    const p = await put(undefined, a, file(1), undefined, T0)
    const q = await put(undefined, b, file(2), undefined, T0)
    const pq = mergeRecords(p.record, q.record)
    const qp = mergeRecords(q.record, p.record)
    const winner = [a, b].sort((x, y) => x.id < y.id ? 1 : -1)[0]
    assert.equal(resolveView(pq).value?.owner, winner.id)
    assert.deepEqual(resolveView(pq), resolveView(qp))
  })

  describe('tombstones', () => {
    it('a delete covers what its context saw; a record of tombstones only reads as absent', async () => {
      const w1 = await put(undefined, a, file(1))
      const del = await put(w1.record, b, { deleted: true }, w1.record)
      const view = resolveView(del.record)
      assert.equal(view.exists, false)
      assert.equal(view.value, undefined)
      assert.equal(view.conflict, false)
      assert.equal(view.siblings.length, 1)
      // a replica that still holds the value converges to the delete
      assert.equal(resolveView(mergeRecords(w1.record, del.record)).exists, false)
      // writing again after the delete, with its context, brings the name back
      const again = await put(del.record, c, file(2), del.record)
      assert.deepEqual(sizes(again.record), [2])
      assert.equal(again.record.siblings.length, 1)
    })

    it('a delete concurrent with an update keeps both: the update is shown, the tombstone listed', async () => {
      const w1 = await put(undefined, a, file(1))
      const update = await put(w1.record, a, file(2), w1.record)
      const del = await put(w1.record, b, { deleted: true }, w1.record)
      const merged = mergeRecords(update.record, del.record)
      const view = resolveView(merged)
      assert.equal(view.exists, true)
      assert.equal(view.value?.size, 2)
      assert.equal(view.conflict, false, 'one live value')
      assert.equal(view.siblings.length, 2)
    })

    it('may be collected only when every replica has seen it and the grace period has passed', async () => {
      const w1 = await put(undefined, a, file(1))
      const del = await put(w1.record, b, { deleted: true }, w1.record, T0)
      const replicaSet = [a.id, b.id, c.id]
      const all = new Set(replicaSet)
      const opts = { seenBy: all, replicaSet, now: T0 + HOUR, graceMs: HOUR }
      assert.equal(canCollectTombstone(del.record, opts), true)
      assert.equal(canCollectTombstone(del.record, { ...opts, now: T0 + HOUR - 1 }), false)
      assert.equal(canCollectTombstone(del.record, { ...opts, seenBy: new Set([a.id, b.id]) }), false)
      assert.equal(canCollectTombstone(del.record, { ...opts, replicaSet: [] }), false)
      // not while a live value is beside it
      const update = await put(w1.record, c, file(2), w1.record)
      assert.equal(canCollectTombstone(mergeRecords(del.record, update.record), opts), false)
      assert.equal(canCollectTombstone(w1.record, opts), false)
    })

    it('with `since`, the grace period runs from when this node first held the tombstone, not from the writer\'s clock', async () => {
      const w1 = await put(undefined, a, file(1))
      // the deleting node's clock is five hours fast: by its mtime the grace period has long passed
      const del = await put(w1.record, b, { deleted: true }, w1.record, T0 + 5 * HOUR)
      const replicaSet = [a.id, b.id, c.id]
      const opts = { seenBy: new Set(replicaSet), replicaSet, graceMs: HOUR }
      assert.equal(canCollectTombstone(del.record, { ...opts, now: T0 + HOUR, since: T0 + HOUR - 1 }), false)
      assert.equal(canCollectTombstone(del.record, { ...opts, now: T0 + 2 * HOUR, since: T0 + HOUR }), true)
    })
  })

  it('minCounter: a coordinator that no longer holds the record still makes a new dot', async () => {
    const w1 = await put(undefined, a, file(1))
    const w2 = await put(w1.record, a, file(2), w1.record)
    assert.equal(w2.written.dot.counter, 2)
    // the record is gone here (collected, or handed off): without the kept counter the dot would repeat
    const again = await writeRecord(undefined, { key: KEY, value: file(3), actor: a.id, privateKey: a.privateKey, now: T0, minCounter: 2 })
    assert.equal(again.written.dot.counter, 3)
    const behind = await writeRecord(w2.record, { key: KEY, value: file(3), actor: a.id, privateKey: a.privateKey, now: T0, minCounter: 1 })
    assert.equal(behind.written.dot.counter, 3, 'the record\'s own counters still count')
  })

  it('flags more than SIBLING_WARN siblings on write, and never drops one on merge', async () => {
    let record: NameRecord | undefined
    let last: WriteResult | undefined
    for (let i = 0; i <= SIBLING_WARN; i++) {
      last = await put(record, a, file(i))
      record = last.record
      assert.equal(last.tooManySiblings, i + 1 > SIBLING_WARN)
    }
    const other = await put(undefined, b, file(1000))
    const bigger = mergeRecords(record as NameRecord, other.record)
    assert.equal(bigger.siblings.length, SIBLING_WARN + 2)
    assert.deepEqual(encodeRecord(bigger).length > 0, true)
  })

  it('writeRecord validates its input', async () => {
    await assert.rejects(writeRecord(undefined, { value: file(1), actor: a.id, privateKey: a.privateKey, now: T0 }), /no key given/)
    await assert.rejects(put(undefined, a, { cid: 'nope', size: 1 }), (err: Error) => err instanceof InvalidArgumentError && /Invalid value cid/.test(err.message))
    await assert.rejects(put(undefined, a, { cid: CIDS[0], size: -1 }), /size/)
    await assert.rejects(writeRecord(undefined, { key: 'relative', value: file(1), actor: a.id, privateKey: a.privateKey, now: T0 }), /must start with "\/"/)
    const w1 = await put(undefined, a, file(1))
    await assert.rejects(writeRecord(w1.record, { key: '/other', value: file(1), actor: a.id, privateKey: a.privateKey, now: T0 }), /over the record of/)
    await assert.rejects(writeRecord(undefined, { key: KEY, value: file(1), actor: 'not a peer', privateKey: a.privateKey, now: T0 }), /Invalid actor/)
    // the key and the CID are normalised
    const w = await writeRecord(undefined, { key: '//docs//report.txt/', value: { cid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy', size: 1, meta: { a: 'b' } }, actor: a.id, privateKey: a.privateKey, now: T0 })
    assert.equal(w.record.key, KEY)
    assert.equal(w.written.value.mtime, T0)
    assert.equal(w.written.value.owner, a.id)
    assert.throws(() => mergeRecords(w.record, { key: '/other', siblings: [] }), /two names/)
  })

  it('the dot of a write is new for its actor, even when the client context is ahead of the record', async () => {
    const w1 = await put(undefined, a, file(1))
    const ahead = createContext({ [a.id]: 7 })
    const w2 = await writeRecord(w1.record, { value: file(2), context: ahead, actor: a.id, privateKey: a.privateKey, now: T0 })
    assert.deepEqual(w2.written.dot, { actor: a.id, counter: 8 })
    assert.deepEqual(recordContext(w2.record), createContext({ [a.id]: 8 }))
  })
})
