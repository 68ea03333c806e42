/**
 * Dotted version vectors: the causality of name writes (pure, no I/O).
 *
 * Facts taken from Preguiça, Baquero et al., "Dotted Version Vectors: Logical
 * Clocks for Optimistic Replication" and Riak 2.0 (whose dvvset is the
 * reference design):
 * - every write gets a *dot* `(actor, n)`: the coordinating node and the next
 *   counter it has used for this key; a dot names one write;
 * - the write also carries the *context* the client read before writing
 *   (what it has seen). The write obsoletes exactly the writes whose dots that
 *   context includes and is concurrent with everything else, so two clients
 *   writing through the same node with stale contexts both keep their values
 *   (no lost update) and a write that saw N siblings replaces those N and only
 *   those (no sibling explosion). The pair (dot, context) is a DVV.
 *
 * Representation: one DVV per sibling, not a DVVSet per key. A DVVSet
 * compacts all siblings of a key into one clock, which is smaller but makes
 * the per-write causal information unrecoverable; shoal signs every write, and
 * the signature must cover the write's own causality (its dot and the context
 * it was written with) so that nobody on the path can tamper with what a
 * write obsoletes. A per-sibling DVV is exactly that signed unit, and a merge
 * of records stays purely structural over signed siblings: the vector of a
 * record is never stored, it is the join of its siblings' clocks.
 *
 * Contexts are sets of dots, kept in a compact normal form: a version vector
 * (`vector[actor] = n`: dots 1..n of that actor) plus the few dots beyond it
 * that are not contiguous (`dots`). Plain version vectors would over-claim:
 * a replica that received a sibling with dot (A, 5) but never heard of
 * (A, 4) must not hand out a context claiming (A, 4), or a client writing with
 * it would obsolete a write it never saw. With the exact set, a context
 * includes a dot only if the reader saw that write or a write that had
 * obsoleted it, however replicas exchange records.
 *
 * Order: the clock of a DVV is its context plus its dot, and one DVV
 * obsoletes another when its clock is a strict superset. For honestly
 * produced histories this is the paper's "my context includes your dot"; as
 * set inclusion it is a partial order on any input (transitive, acyclic), which
 * is what makes the merge of records (keep the maximal siblings of the union)
 * commutative, associative and idempotent even over garbage.
 *
 * Counters are integers 1 <= n < 2^53 (Number.isSafeInteger); actor ids are
 * peer id strings (alphanumeric, at most MAX_ACTOR_LENGTH characters).
 */
import { InvalidArgumentError } from '../errors.ts'

/** One write: the `counter`-th event of `actor` on a key. */
export interface Dot {
  readonly actor: string
  readonly counter: number
}

/** A set of dots in normal form. Treat it as opaque; build it with the functions here. */
export interface CausalContext {
  /** actor -> n >= 1: dots (actor, 1..n) are all included. Absent actors: none. */
  readonly vector: Readonly<Record<string, number>>
  /** Further dots, each with counter > vector[actor] + 1, sorted by actor then counter. */
  readonly dots: readonly Dot[]
}

/** A dotted version vector: one write's dot and the context it was written with. */
export interface Dvv {
  readonly dot: Dot
  readonly context: CausalContext
}

export const MAX_ACTOR_LENGTH = 128

const ACTOR = /^[A-Za-z0-9]+$/

export const EMPTY_CONTEXT: CausalContext = Object.freeze({ vector: Object.freeze({}), dots: Object.freeze([]) })

/** Throws InvalidArgumentError unless `actor` looks like a peer id string. */
export function validateActor (actor: unknown): asserts actor is string {
  if (typeof actor !== 'string' || actor.length === 0 || actor.length > MAX_ACTOR_LENGTH || !ACTOR.test(actor)) {
    throw new InvalidArgumentError(`Invalid actor ${typeof actor === 'string' ? JSON.stringify(actor.slice(0, 140)) : typeof actor}: expected a peer id string (1-${MAX_ACTOR_LENGTH} letters and digits)`)
  }
}

/** True for a valid counter: an integer 1 <= n < 2^53. */
export function isCounter (n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 1
}

function validateCounter (n: unknown, what: string): asserts n is number {
  if (!isCounter(n)) {
    throw new InvalidArgumentError(`Invalid counter for ${what}: ${typeof n === 'bigint' ? `${n}n` : String(n)} (expected an integer 1 <= n < 2^53)`)
  }
}

export function compareActors (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

export function compareDots (a: Dot, b: Dot): number {
  return compareActors(a.actor, b.actor) || a.counter - b.counter
}

function counterOf (vector: Readonly<Record<string, number>>, actor: string): number {
  return Object.hasOwn(vector, actor) ? vector[actor] : 0
}

/**
 * The context holding the dots of `vector` (actor -> n: dots 1..n) and `dots`,
 * in normal form. Validates actors and counters (InvalidArgumentError).
 */
export function createContext (vector: Readonly<Record<string, number>> = {}, dots: Iterable<Dot> = []): CausalContext {
  const prefix = new Map<string, number>()
  for (const [actor, n] of Object.entries(vector)) {
    validateActor(actor)
    if (n === 0) continue
    validateCounter(n, `actor "${actor}"`)
    prefix.set(actor, n)
  }
  const extra = new Map<string, Set<number>>()
  for (const dot of dots) {
    validateActor(dot.actor)
    validateCounter(dot.counter, `a dot of actor "${dot.actor}"`)
    let set = extra.get(dot.actor)
    if (set == null) extra.set(dot.actor, set = new Set())
    set.add(dot.counter)
  }
  return normalise(prefix, extra)
}

/** Builds the normal form; takes ownership of the maps. */
function normalise (prefix: Map<string, number>, extra: Map<string, Set<number>>): CausalContext {
  const outDots: Dot[] = []
  for (const [actor, set] of extra) {
    let n = prefix.get(actor) ?? 0
    while (set.has(n + 1)) n++
    if (n > 0) prefix.set(actor, n)
    for (const c of set) if (c > n) outDots.push({ actor, counter: c })
  }
  outDots.sort(compareDots)
  const actors = [...prefix.keys()].sort(compareActors)
  const outVector: Record<string, number> = {}
  for (const actor of actors) outVector[actor] = prefix.get(actor) as number
  return Object.freeze({ vector: Object.freeze(outVector), dots: Object.freeze(outDots.map(d => Object.freeze(d))) })
}

/** True when `ctx` includes `dot`. */
export function contains (ctx: CausalContext, dot: Dot): boolean {
  if (dot.counter <= counterOf(ctx.vector, dot.actor)) return true
  return ctx.dots.some(d => d.actor === dot.actor && d.counter === dot.counter)
}

/** The highest counter of `actor` in `ctx` (0 when none). */
export function maxCounter (ctx: CausalContext, actor: string): number {
  let n = counterOf(ctx.vector, actor)
  for (const d of ctx.dots) if (d.actor === actor && d.counter > n) n = d.counter
  return n
}

/** `ctx` with `dot` added. */
export function addDot (ctx: CausalContext, dot: Dot): CausalContext {
  return join(ctx, createContext({}, [dot]))
}

/** The union of contexts (the least context that descends all of them). */
export function join (...contexts: CausalContext[]): CausalContext {
  const prefix = new Map<string, number>()
  const extra = new Map<string, Set<number>>()
  for (const ctx of contexts) {
    for (const [actor, n] of Object.entries(ctx.vector)) {
      if (n > (prefix.get(actor) ?? 0)) prefix.set(actor, n)
    }
    for (const d of ctx.dots) {
      let set = extra.get(d.actor)
      if (set == null) extra.set(d.actor, set = new Set())
      set.add(d.counter)
    }
  }
  return normalise(prefix, extra)
}

/** True when `a` includes every dot of `b` (a >= b). */
export function descends (a: CausalContext, b: CausalContext): boolean {
  // in normal form, a's contiguous prefix for an actor is exactly a.vector[actor]
  for (const [actor, n] of Object.entries(b.vector)) {
    if (counterOf(a.vector, actor) < n) return false
  }
  return b.dots.every(d => contains(a, d))
}

/** True when `a` includes every dot of `b` and more (a > b). */
export function dominates (a: CausalContext, b: CausalContext): boolean {
  return descends(a, b) && !descends(b, a)
}

/** True when neither includes the other. */
export function concurrent (a: CausalContext, b: CausalContext): boolean {
  return !descends(a, b) && !descends(b, a)
}

/** True when both hold the same dots. */
export function equals (a: CausalContext, b: CausalContext): boolean {
  return descends(a, b) && descends(b, a)
}

/** Number of entries the normal form stores (vector entries plus loose dots). */
export function contextSize (ctx: CausalContext): number {
  return Object.keys(ctx.vector).length + ctx.dots.length
}

/**
 * A new dot for `actor`: one past the highest counter of `actor` in `known`.
 * `known` must include every dot the actor has ever produced for this key
 * (writeRecord passes the join of the coordinator's record and the client's
 * context), or two writes would share a dot.
 */
export function event (known: CausalContext, actor: string): Dot {
  validateActor(actor)
  const counter = maxCounter(known, actor) + 1
  if (!Number.isSafeInteger(counter)) {
    throw new InvalidArgumentError(`Cannot create a new version for actor "${actor}": its counter would reach 2^53`)
  }
  return Object.freeze({ actor, counter })
}

/** The clock of a DVV: the context it was written with plus its own dot. */
export function clockOf (dvv: Dvv): CausalContext {
  return addDot(dvv.context, dvv.dot)
}

/** True when `newer` obsoletes `older`: its clock strictly includes the other's. */
export function obsoletes (newer: Dvv, older: Dvv): boolean {
  return dominates(clockOf(newer), clockOf(older))
}

/**
 * The items whose clock no other item's clock strictly includes (the DVV
 * paper's `sync` of a set of clocks), in input order. Items with equal clocks
 * are all kept.
 */
export function maximal<T> (items: readonly T[], clock: (item: T) => CausalContext): T[] {
  const clocks = items.map(clock)
  return items.filter((_, i) => !clocks.some((c, j) => j !== i && dominates(c, clocks[i])))
}
