/**
 * Property tests of names: the merge laws, over records from random histories
 * and over arbitrary sibling sets, and "no acknowledged write is lost" in a
 * simulated network of replicas and clients whose messages are reordered,
 * duplicated and delayed. The oracle tracks causality by write id (which
 * writes each replica and each client has seen), not with the code under test.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { createContext, obsoletes } from '../../src/names/dvv.ts'
import type { Dot } from '../../src/names/dvv.ts'
import { mergeRecords, resolveView, writeRecord } from '../../src/names/merge.ts'
import { decodeContext, decodeRecord, encodeRecord, verifyRecord } from '../../src/names/record.ts'
import type { NameRecord, NameValue, Sibling } from '../../src/names/record.ts'
import { CIDS, testNodes } from './helpers.ts'
import type { TestNode } from './helpers.ts'

const KEY = '/shared/notes.md'
const CLIENTS = 3

type Op =
  | { t: 'read', client: number, replica: number, quorumWith: number | null }
  | { t: 'write', client: number, replica: number, token: number | null, del: boolean, fanout: 'record' | 'sibling' | 'none' }
  | { t: 'deliver', msg: number, keep: boolean }
  | { t: 'sync', from: number, to: number }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constant('read' as const), client: fc.nat(CLIENTS - 1), replica: fc.nat(9), quorumWith: fc.option(fc.nat(9)) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('write' as const), client: fc.nat(CLIENTS - 1), replica: fc.nat(9), token: fc.option(fc.nat(9), { freq: 4 }), del: fc.boolean(), fanout: fc.constantFrom('record' as const, 'sibling' as const, 'none' as const) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('deliver' as const), msg: fc.nat(99), keep: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('sync' as const), from: fc.nat(9), to: fc.nat(9) }) }
)

interface Replica { node: TestNode, record: NameRecord | undefined, knows: Set<number> }
interface Message { to: number, record: NameRecord, knows: Set<number> }
interface Token { token: string, covers: Set<number> }

/** Runs a history; returns the oracle's view and every record state seen on the way. */
async function simulate (nodes: TestNode[], replicaCount: number, ops: Op[]): Promise<{
  replicas: Replica[]
  pool: Message[]
  acked: number[]
  covers: Map<number, Set<number>>
  snapshots: NameRecord[]
}> {
  const replicas: Replica[] = nodes.slice(0, replicaCount).map(node => ({ node, record: undefined, knows: new Set() }))
  const clients: Token[][] = Array.from({ length: CLIENTS }, () => [])
  const pool: Message[] = []
  const acked: number[] = []
  /** write id -> the writes its client's context had seen (closed under "seen through") */
  const covers = new Map<number, Set<number>>()
  const snapshots: NameRecord[] = []
  const closure = (ids: Iterable<number>): Set<number> => {
    const out = new Set<number>()
    for (const id of ids) {
      out.add(id)
      for (const c of covers.get(id) ?? []) out.add(c)
    }
    return out
  }
  const merge = (x: NameRecord | undefined, y: NameRecord | undefined): NameRecord | undefined =>
    x == null ? y : y == null ? x : mergeRecords(x, y)
  const receive = (r: Replica, record: NameRecord | undefined, knows: Iterable<number>): void => {
    r.record = merge(r.record, record)
    for (const k of knows) r.knows.add(k)
    if (r.record != null) snapshots.push(r.record)
  }

  let nextId = 1
  for (const op of ops) {
    if (op.t === 'read') {
      const r = replicas[op.replica % replicaCount]
      const other = op.quorumWith == null ? undefined : replicas[op.quorumWith % replicaCount]
      const seen = merge(r.record, other?.record)
      const knows = new Set([...r.knows, ...(other?.knows ?? [])])
      clients[op.client].push({ token: resolveView(seen, KEY).context, covers: closure(knows) })
      if (other != null) { // read repair
        receive(r, seen, knows)
        receive(other, seen, knows)
      }
    } else if (op.t === 'write') {
      const r = replicas[op.replica % replicaCount]
      const tokens = clients[op.client]
      const read = op.token == null || tokens.length === 0 ? undefined : tokens[op.token % tokens.length]
      const id = nextId++
      // the mtime is the write's id: the oracle recognises writes by it
      const value = op.del ? { deleted: true as const } : { cid: CIDS[id % CIDS.length], size: id }
      const result = await writeRecord(r.record, {
        key: KEY, value, context: read == null ? undefined : decodeContext(read.token), actor: r.node.id, privateKey: r.node.privateKey, now: id
      })
      assert.equal(result.written.value.mtime, id)
      r.record = result.record
      r.knows.add(id)
      snapshots.push(r.record)
      covers.set(id, read?.covers ?? new Set())
      acked.push(id)
      if (op.fanout !== 'none') {
        replicas.forEach((_, j) => {
          if (replicas[j] === r) return
          if (op.fanout === 'record') pool.push({ to: j, record: result.record, knows: new Set(r.knows) })
          else pool.push({ to: j, record: { key: KEY, siblings: [result.written] }, knows: new Set([id]) })
        })
      }
    } else if (op.t === 'deliver') {
      if (pool.length === 0) continue
      const i = op.msg % pool.length
      const m = pool[i]
      receive(replicas[m.to], m.record, m.knows)
      if (!op.keep) pool.splice(i, 1)
    } else {
      const from = replicas[op.from % replicaCount]
      if (from.record != null) pool.push({ to: op.to % replicaCount, record: from.record, knows: new Set(from.knows) })
    }
  }
  return { replicas, pool, acked, covers, snapshots }
}

const bytesOf = (r: NameRecord): string => Buffer.from(encodeRecord(r)).toString('hex')

describe('names/properties', function () {
  this.timeout(20_000)
  let nodes: TestNode[]

  before(async () => { nodes = await testNodes(4) })

  it('no acknowledged write is lost: after all deliveries and a full merge, exactly the writes no later context covered remain', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 2, max: 4 }),
      fc.array(opArb, { minLength: 20, maxLength: 60, size: 'max' }),
      async (replicaCount, ops) => {
        const { replicas, pool, acked, covers } = await simulate(nodes, replicaCount, ops)
        // deliver everything still in flight, then a full anti-entropy round
        for (const m of pool) {
          const r = replicas[m.to]
          r.record = r.record == null ? m.record : mergeRecords(r.record, m.record)
        }
        const held = replicas.map(r => r.record).filter((r): r is NameRecord => r != null)
        if (acked.length === 0) return
        const final = held.reduce(mergeRecords)
        // every replica converges to the same bytes
        for (const r of held) assert.equal(bytesOf(mergeRecords(r, final)), bytesOf(final))

        const coveredByLater = new Set<number>()
        for (const c of covers.values()) for (const id of c) coveredByLater.add(id)
        const present = final.siblings.map(s => s.value.mtime)
        assert.equal(new Set(present).size, present.length, 'a write appears once')
        for (const id of acked) {
          assert.ok(present.includes(id) || coveredByLater.has(id), `write ${id} was acknowledged, then lost: no later write's context covered it`)
        }
        // and nothing more: a write some context covered is gone (no sibling explosion, no resurrection)
        assert.deepEqual(present.sort((x, y) => x - y), acked.filter(id => !coveredByLater.has(id)))
        await verifyRecord(decodeRecord(encodeRecord(final)))
      }
    ), { numRuns: 80 })
  })

  it('merge is commutative, associative and idempotent over records from random histories', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 2, max: 4 }),
      fc.array(opArb, { minLength: 5, maxLength: 30, size: 'max' }),
      fc.nat(), fc.nat(), fc.nat(),
      async (replicaCount, ops, i, j, k) => {
        const { snapshots } = await simulate(nodes, replicaCount, ops)
        if (snapshots.length === 0) return
        const [a, b, c] = [i, j, k].map(n => snapshots[n % snapshots.length])
        checkLaws(a, b, c)
      }
    ), { numRuns: 80 })
  })

  it('merge is commutative, associative and idempotent over arbitrary siblings, and never drops one nothing obsoletes', () => {
    const actors = ['A', 'B', 'C']
    const dotArb: fc.Arbitrary<Dot> = fc.record({ actor: fc.constantFrom(...actors), counter: fc.integer({ min: 1, max: 3 }) })
    const valueArb: fc.Arbitrary<NameValue> = fc.oneof(
      fc.record({ deleted: fc.constant(true as const), mtime: fc.nat(2), owner: fc.constantFrom(...actors) }),
      fc.record({ cid: fc.constantFrom(CIDS[0], CIDS[1]), size: fc.nat(2), mtime: fc.nat(2), owner: fc.constantFrom(...actors) })
    )
    const siblingArb: fc.Arbitrary<Sibling> = fc.record({
      dot: dotArb,
      vector: fc.record({ A: fc.nat(3), B: fc.nat(3), C: fc.nat(3) }),
      dots: fc.array(dotArb, { maxLength: 2 }),
      value: valueArb,
      sig: fc.nat(1)
    }).map(({ dot, vector, dots, value, sig }) => ({ dot, context: createContext(vector, dots), value, signature: new Uint8Array(64).fill(sig) }))
      .filter(s => !createContextHas(s))
    const recordArb = fc.array(siblingArb, { minLength: 1, maxLength: 6 })
      .map(siblings => mergeRecords({ key: KEY, siblings }, { key: KEY, siblings: [] }))
    fc.assert(fc.property(recordArb, recordArb, recordArb, (a, b, c) => {
      checkLaws(a, b, c)
      const m = mergeRecords(a, b)
      for (const s of [...a.siblings, ...b.siblings]) {
        const kept = m.siblings.some(t => bytesOfSibling(t) === bytesOfSibling(s))
        assert.ok(kept || m.siblings.some(t => obsoletes(t, s)), 'a sibling nothing obsoletes was dropped')
      }
      for (const s of m.siblings) assert.ok(!m.siblings.some(t => obsoletes(t, s)), 'an obsoleted sibling was kept')
    }), { numRuns: 300 })
  })
})

function createContextHas (s: Sibling): boolean {
  const { dot, context } = s
  return dot.counter <= (context.vector[dot.actor] ?? 0) || context.dots.some(d => d.actor === dot.actor && d.counter === dot.counter)
}

function bytesOfSibling (s: Sibling): string {
  return bytesOf({ key: KEY, siblings: [s] })
}

function checkLaws (a: NameRecord, b: NameRecord, c: NameRecord): void {
  assert.equal(bytesOf(mergeRecords(a, b)), bytesOf(mergeRecords(b, a)), 'commutative')
  assert.equal(bytesOf(mergeRecords(mergeRecords(a, b), c)), bytesOf(mergeRecords(a, mergeRecords(b, c))), 'associative')
  assert.equal(bytesOf(mergeRecords(a, a)), bytesOf(a), 'idempotent')
  assert.equal(bytesOf(mergeRecords(a, mergeRecords(a, b))), bytesOf(mergeRecords(a, b)), 'absorbs what it already holds')
}
