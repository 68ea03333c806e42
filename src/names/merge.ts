/**
 * Reconciling name records (pure, apart from signing a new write).
 *
 * - mergeRecords: the union of two replicas' siblings minus every sibling
 *   another one obsoletes. Commutative, associative and idempotent, with one
 *   canonical result (same bytes whatever the order), so replicas converge
 *   whatever order, duplication or delay their messages have. It never drops
 *   a sibling that no other sibling obsoletes, whatever the count.
 * - writeRecord: a new write through a coordinator. Its dot is new for the
 *   coordinator (the actor); its context is what the client read. It replaces
 *   exactly the siblings that context covers and sits beside the others.
 * - resolveView: what a read shows: the live values, a default winner for
 *   display (latest mtime, then owner peer id: wall clocks choose only what is
 *   shown first, never what is kept), and the context token for the next write.
 *
 * Replication contract (for the networked layer built on top):
 * - the actor of a write must be a node that keeps this key's record durably
 *   and applies each of its own writes to it before acknowledging, so its
 *   counters never repeat (writeRecord derives the counter from the current
 *   record and the client's context);
 * - verify (verifyRecord) every record that comes from another node before
 *   merging it: merges are structural and do not look at signatures;
 * - replicas may exchange whole records or single siblings (as one-sibling
 *   records): contexts are exact sets of dots, so neither loses a write.
 */
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { InvalidArgumentError } from '../errors.ts'
import { CID } from 'multiformats/cid'
import { EMPTY_CONTEXT, addDot, clockOf, compareActors, contextSize, createContext, event, join } from './dvv.ts'
import type { CausalContext } from './dvv.ts'
import { normaliseName } from './path.ts'
import { DEFAULT_RECORD_LIMITS, canonicalSiblings, checkValue, compareSiblings, encodeContext, isTombstone, signSibling } from './record.ts'
import type { FileValue, NameRecord, NameValue, Sibling, Tombstone } from './record.ts'

/** writeRecord flags a record holding more siblings than this (it never drops any). */
export const SIBLING_WARN = 25

/** The record holding the siblings of both `a` and `b` that nothing obsoletes. Both must have the same key. */
export function mergeRecords (a: NameRecord, b: NameRecord): NameRecord {
  if (a.key !== b.key) throw new InvalidArgumentError(`Cannot merge the records of two names: "${a.key}" and "${b.key}"`)
  return Object.freeze({ key: a.key, siblings: Object.freeze(canonicalSiblings([...a.siblings, ...b.siblings])) })
}

/** Everything `record` has seen: the join of its siblings' clocks (empty for no record). */
export function recordContext (record: NameRecord | undefined): CausalContext {
  if (record == null) return EMPTY_CONTEXT
  return join(...record.siblings.map(clockOf))
}

/** A value to write; `mtime` defaults to `now`, `owner` to the signer. */
export type FileValueInput = Omit<FileValue, 'mtime' | 'owner'> & { mtime?: number, owner?: string }
export type TombstoneInput = { deleted: true, mtime?: number, owner?: string }
export type NameValueInput = FileValueInput | TombstoneInput

export interface WriteOptions {
  /** The name; may be omitted when `current` is given (it must then be the same name). */
  key?: string
  value: NameValueInput
  /** What the client read (decodeContext of the token it got); none: a blind write that replaces nothing. */
  context?: CausalContext
  /** Peer id of the coordinating node, which keeps the record (see the contract above). */
  actor: string
  /** The writing node's Ed25519 key; its peer id becomes the value's owner. */
  privateKey: PrivateKey
  /** Wall clock in ms, used as the value's mtime when it has none. */
  now: number
  /**
   * The highest counter `actor` is known to have used for this key, kept
   * apart from the record (a coordinator keeps it after it drops or collects
   * the record): the new dot's counter is above it.
   */
  minCounter?: number
}

export interface WriteResult {
  /** The coordinator's record after the write. */
  record: NameRecord
  /** The new sibling. */
  written: Sibling
  /** The siblings of `current` this write obsoleted. */
  replaced: Sibling[]
  /** More than SIBLING_WARN siblings: clients are writing without reading (nothing was dropped). */
  tooManySiblings: boolean
}

/** The coordinator's record after one write (see WriteOptions). */
export async function writeRecord (current: NameRecord | undefined, options: WriteOptions): Promise<WriteResult> {
  const given = options.key ?? current?.key
  if (given == null) throw new InvalidArgumentError('Cannot write a name record: no key given')
  const key = normaliseName(given)
  if (current != null && current.key !== key) throw new InvalidArgumentError(`Cannot write "${key}" over the record of "${current.key}"`)
  const context = options.context == null ? EMPTY_CONTEXT : createContext(options.context.vector, options.context.dots)
  if (contextSize(context) > DEFAULT_RECORD_LIMITS.maxContextEntries) {
    throw new InvalidArgumentError(`Cannot write "${key}": the context has ${contextSize(context)} entries, the limit is ${DEFAULT_RECORD_LIMITS.maxContextEntries}`)
  }
  const owner = peerIdFromPrivateKey(options.privateKey).toString()
  const input = options.value
  if (typeof input !== 'object' || input == null) throw new InvalidArgumentError(`Cannot write "${key}": the value must be an object`)
  if (input.owner != null && input.owner !== owner) {
    throw new InvalidArgumentError(`Cannot write a value owned by "${input.owner}": this node signs as "${owner}"`)
  }
  const fields: Record<string, unknown> = { ...input, mtime: input.mtime ?? options.now, owner }
  if (typeof fields.cid === 'string') {
    // accept any multibase spelling of the CID, store its canonical string
    try { fields.cid = CID.parse(fields.cid).toString() } catch {}
  }
  const value: NameValue = checkValue(fields, DEFAULT_RECORD_LIMITS, (m) => { throw new InvalidArgumentError(`Cannot write "${key}": ${m}`) })
  let known = join(recordContext(current), context)
  if (options.minCounter != null && options.minCounter > 0) known = addDot(known, { actor: options.actor, counter: options.minCounter })
  const dot = event(known, options.actor)
  const written = await signSibling(key, { dot, context, value }, options.privateKey)
  const record = mergeRecords({ key, siblings: current?.siblings ?? [] }, { key, siblings: [written] })
  if (record.siblings.length > DEFAULT_RECORD_LIMITS.maxSiblings) {
    throw new InvalidArgumentError(`Cannot write "${key}": it would have ${record.siblings.length} concurrent values, the limit is ${DEFAULT_RECORD_LIMITS.maxSiblings}; read it and write with the context you got to resolve them`)
  }
  const kept = new Set(record.siblings)
  return {
    record,
    written,
    replaced: (current?.siblings ?? []).filter(s => !kept.has(s)),
    tooManySiblings: record.siblings.length > SIBLING_WARN
  }
}

export interface NameView {
  key: string
  /** True when at least one sibling is not a tombstone. */
  exists: boolean
  /** The default winner among the live values: latest mtime, then highest owner peer id. */
  value: FileValue | undefined
  /** All live values, the winner first, then in the same order. */
  values: FileValue[]
  /** Every sibling, tombstones included, in canonical order. */
  siblings: Sibling[]
  /** More than one live value. */
  conflict: boolean
  /** The token to send back with the next write, covering everything this read saw. */
  context: string
}

/** Display order: latest mtime first, then owner, then dot and bytes (total, deterministic). */
function compareForDisplay (a: Sibling, b: Sibling): number {
  return (b.value.mtime - a.value.mtime) || compareActors(b.value.owner, a.value.owner) || compareSiblings(b, a)
}

/** The live siblings (not tombstones) of `record`, latest first. */
export function liveSiblings (record: NameRecord | undefined): Sibling[] {
  return (record?.siblings ?? []).filter(s => !isTombstone(s.value)).sort(compareForDisplay)
}

/** What a read of `record` shows. An absent record, or one of tombstones only, reads as absent. */
export function resolveView (record: NameRecord | undefined, key = record?.key ?? ''): NameView {
  const live = liveSiblings(record)
  const values = live.map(s => s.value as FileValue)
  return {
    key,
    exists: values.length > 0,
    value: values[0],
    values,
    siblings: [...(record?.siblings ?? [])],
    conflict: values.length > 1,
    context: encodeContext(recordContext(record))
  }
}

/** True when `record` holds more than one live value. */
export function conflicts (record: NameRecord | undefined): boolean {
  return liveSiblings(record).length > 1
}

export interface TombstoneGcOptions {
  /** Peers known to hold this record (or one that descends it). */
  seenBy: ReadonlySet<string>
  /** The key's replica set (self included). */
  replicaSet: readonly string[]
  now: number
  graceMs: number
  /**
   * When this node first held the record as tombstones only, by its own
   * clock; the grace period runs from here. Default: the latest tombstone's
   * mtime (the writer's clock, which may be off).
   */
  since?: number
}

/**
 * True when `record` may be deleted outright: all its siblings are
 * tombstones, every replica has seen it, and the grace period has passed since
 * the latest tombstone's mtime. Until then the tombstones must be kept, or a
 * stale replica would bring the deleted value back.
 */
export function canCollectTombstone (record: NameRecord, options: TombstoneGcOptions): boolean {
  if (record.siblings.length === 0 || !record.siblings.every(s => isTombstone(s.value))) return false
  if (options.replicaSet.length === 0 || !options.replicaSet.every(p => options.seenBy.has(p))) return false
  const latest = options.since ?? Math.max(...record.siblings.map(s => (s.value as Tombstone).mtime))
  return options.now - latest >= options.graceMs
}
