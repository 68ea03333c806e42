import assert from 'node:assert/strict'
import fc from 'fast-check'
import { InvalidArgumentError } from '../../src/errors.ts'
import {
  EMPTY_CONTEXT, addDot, clockOf, concurrent, contains, createContext, descends, dominates, equals,
  event, join, maxCounter, maximal, obsoletes
} from '../../src/names/dvv.ts'
import type { CausalContext, Dot, Dvv } from '../../src/names/dvv.ts'

const A = '12D3KooWA'
const B = '12D3KooWB'
const C = '12D3KooWC'

/** All dots of a context, as "actor:n" strings (the set it stands for). */
function dotSet (ctx: CausalContext): Set<string> {
  const out = new Set<string>()
  for (const [actor, n] of Object.entries(ctx.vector)) for (let i = 1; i <= n; i++) out.add(`${actor}:${i}`)
  for (const d of ctx.dots) out.add(`${d.actor}:${d.counter}`)
  return out
}

const dotArb: fc.Arbitrary<Dot> = fc.record({ actor: fc.constantFrom(A, B, C), counter: fc.integer({ min: 1, max: 6 }) })
const contextArb: fc.Arbitrary<CausalContext> = fc.tuple(
  fc.record({ [A]: fc.nat(3), [B]: fc.nat(3), [C]: fc.nat(3) }),
  fc.array(dotArb, { maxLength: 5 })
).map(([vector, dots]) => createContext(vector, dots))

describe('names/dvv', () => {
  it('keeps contexts in one normal form: contiguous dots fold into the vector', () => {
    const ctx = createContext({ [A]: 2 }, [{ actor: A, counter: 3 }, { actor: A, counter: 5 }, { actor: B, counter: 1 }, { actor: A, counter: 1 }])
    assert.deepEqual(ctx, { vector: { [A]: 3, [B]: 1 }, dots: [{ actor: A, counter: 5 }] })
    assert.deepEqual(addDot(ctx, { actor: A, counter: 4 }), { vector: { [A]: 5, [B]: 1 }, dots: [] })
    assert.deepEqual(createContext({ [A]: 0 }), EMPTY_CONTEXT)
    assert.equal(contains(ctx, { actor: A, counter: 4 }), false)
    assert.equal(contains(ctx, { actor: A, counter: 5 }), true)
    assert.equal(maxCounter(ctx, A), 5)
    assert.equal(maxCounter(ctx, C), 0)
  })

  it('validates actors and counters: 1 <= n < 2^53', () => {
    assert.throws(() => createContext({ [A]: 2 ** 53 }), InvalidArgumentError)
    assert.throws(() => createContext({ [A]: 1.5 }), /expected an integer 1 <= n < 2\^53/)
    assert.throws(() => createContext({}, [{ actor: A, counter: 0 }]), InvalidArgumentError)
    assert.throws(() => createContext({ 'not a peer': 1 }), /Invalid actor/)
    assert.throws(() => createContext(Object.fromEntries([['__proto__', 1]])), InvalidArgumentError)
    assert.deepEqual(createContext({ [A]: 2 ** 53 - 1 }).vector, { [A]: 2 ** 53 - 1 })
  })

  it('an actor id named like an Object property is just an actor', () => {
    const ctx = createContext({ constructor: 2 })
    assert.equal(contains(ctx, { actor: 'constructor', counter: 2 }), true)
    assert.equal(contains(EMPTY_CONTEXT, { actor: 'constructor', counter: 1 }), false)
    assert.equal(maxCounter(EMPTY_CONTEXT, 'toString'), 0)
  })

  it('event gives the next counter of the actor and refuses to reach 2^53', () => {
    assert.deepEqual(event(EMPTY_CONTEXT, A), { actor: A, counter: 1 })
    assert.deepEqual(event(createContext({ [A]: 1 }, [{ actor: A, counter: 7 }]), A), { actor: A, counter: 8 })
    assert.throws(() => event(createContext({ [A]: 2 ** 53 - 1 }), A), /counter would reach 2\^53/)
  })

  it('descends, dominates, concurrent, equals', () => {
    const a1 = createContext({ [A]: 1 })
    const a2 = createContext({ [A]: 2 })
    const a2only = createContext({}, [{ actor: A, counter: 2 }])
    const b1 = createContext({ [B]: 1 })
    assert.ok(descends(a2, a1) && dominates(a2, a1) && !dominates(a1, a2))
    assert.ok(descends(a1, EMPTY_CONTEXT) && descends(a1, a1) && !dominates(a1, a1))
    // a loose dot is not its prefix: {A:2} alone has not seen A:1
    assert.ok(concurrent(a1, a2only))
    assert.ok(dominates(a2, a2only))
    assert.ok(concurrent(a1, b1))
    assert.ok(equals(join(a1, a2only), a2))
  })

  it('a DVV obsoletes exactly what its context covers (two stale writes through one actor stay concurrent)', () => {
    // two clients read nothing and write through A: dots (A,1) and (A,2), both with empty contexts
    const w1: Dvv = { dot: { actor: A, counter: 1 }, context: EMPTY_CONTEXT }
    const w2: Dvv = { dot: { actor: A, counter: 2 }, context: EMPTY_CONTEXT }
    assert.equal(obsoletes(w2, w1), false, 'a plain version vector {A:2} > {A:1} would lose w1 here')
    assert.equal(obsoletes(w1, w2), false)
    // a third client saw w2 only, writing through B
    const w3: Dvv = { dot: { actor: B, counter: 1 }, context: clockOf(w2) }
    assert.equal(obsoletes(w3, w2), true)
    assert.equal(obsoletes(w3, w1), false)
    assert.deepEqual(maximal([w1, w2, w3], clockOf), [w1, w3])
  })

  it('contexts form a join-semilattice (property)', () => {
    fc.assert(fc.property(contextArb, contextArb, contextArb, (a, b, c) => {
      assert.deepEqual(join(a, b), join(b, a))
      assert.deepEqual(join(join(a, b), c), join(a, join(b, c)))
      assert.deepEqual(join(a, a), a)
      assert.ok(descends(join(a, b), a) && descends(join(a, b), b))
      // the normal form is unique: equal sets, equal structures
      assert.deepEqual(dotSet(join(a, b)), new Set([...dotSet(a), ...dotSet(b)]))
      if (equals(a, b)) assert.deepEqual(a, b)
      // descends is set inclusion
      const sa = dotSet(a)
      assert.equal(descends(a, b), [...dotSet(b)].every(d => sa.has(d)))
    }), { numRuns: 300 })
  })

  it('obsoletes is a strict partial order on any DVVs (property)', () => {
    const dvvArb = fc.tuple(dotArb, contextArb).filter(([dot, ctx]) => !contains(ctx, dot)).map(([dot, context]): Dvv => ({ dot, context }))
    fc.assert(fc.property(dvvArb, dvvArb, dvvArb, (x, y, z) => {
      assert.equal(obsoletes(x, x), false)
      if (obsoletes(x, y)) assert.equal(obsoletes(y, x), false)
      if (obsoletes(x, y) && obsoletes(y, z)) assert.equal(obsoletes(x, z), true)
    }), { numRuns: 500 })
  })
})
