/**
 * Name records: a key (normalised path) and one or more signed siblings, each
 * one write: a value (a file's CID and attributes, or a tombstone), the write's
 * dot and the context it was written with (src/names/dvv.ts).
 *
 * What a writer signs, with the Ed25519 key of the node whose peer id is the
 * value's `owner`, is the canonical CBOR of
 *   ["shoal/name/sibling", 1, key, [actor, counter], context, value]
 * so a signature covers the key, the value and everything the write says
 * about causality. A record's vector is never stored: it is the join of its
 * siblings' clocks, so there is nothing unsigned in a record to tamper with
 * (a relay can still withhold siblings; the union merge across replicas heals
 * that).
 *
 * Wire format, version 1, canonical CBOR (cborg: definite lengths, minimal
 * integers, map keys sorted length-first, no floats, no tags):
 *   record  {v: 1, key: text, sibs: [sibling, ...]}
 *   sibling {dot: [actor, counter], ctx: context, val: value, sig: bytes(64)}
 *   context [[[actor, n], ...], [[actor, counter], ...]]   (vector, loose dots; normal form)
 *   value   {cid, size, mode?, mtime, owner, meta?} | {deleted: true, mtime, owner}
 * Siblings are unique, none obsoletes another, and they are sorted by dot then
 * bytes, so a record has exactly one encoding: the bytes of a merge do not
 * depend on the order of the merge (usable for anti-entropy hashes).
 * decodeRecord checks every field and limit and re-encodes to compare, so
 * anything non-canonical is rejected (InvalidRecordError). Decoding does not
 * verify signatures: call verifyRecord on whatever comes from the network.
 */
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { decode as cborDecode, encode as cborEncode } from 'cborg'
import { base64url } from 'multiformats/bases/base64'
import { CID } from 'multiformats/cid'
import { compare as compareBytes } from 'uint8arrays/compare'
import { equals as equalBytes } from 'uint8arrays/equals'
import { InvalidArgumentError, InvalidRecordError, InvalidSignatureError } from '../errors.ts'
import { compareActors, compareDots, contains, contextSize, createContext, clockOf, maximal, validateActor, isCounter } from './dvv.ts'
import type { CausalContext, Dot } from './dvv.ts'
import { isNormalisedName } from './path.ts'

export const RECORD_VERSION = 1
const SIGNING_DOMAIN = 'shoal/name/sibling'
const CONTEXT_TOKEN_VERSION = 1

/** A file the name points at. */
export interface FileValue {
  readonly cid: string
  readonly size: number
  readonly mode?: number
  /** Milliseconds since the epoch, by the writer's clock: for display only, never for causality. */
  readonly mtime: number
  /** Peer id of the node that wrote (and signed) this value. */
  readonly owner: string
  readonly meta?: Readonly<Record<string, string>>
}

/** A delete. */
export interface Tombstone {
  readonly deleted: true
  readonly mtime: number
  readonly owner: string
}

export type NameValue = FileValue | Tombstone

/** One write of a name. */
export interface Sibling {
  readonly dot: Dot
  /** What the writer had seen: the write obsoletes exactly the siblings this covers. */
  readonly context: CausalContext
  readonly value: NameValue
  /** Ed25519 signature by `value.owner` over (key, dot, context, value). */
  readonly signature: Uint8Array
}

export interface NameRecord {
  /** Normalised path (src/names/path.ts). */
  readonly key: string
  /** At least one; canonical order; none obsoletes another. */
  readonly siblings: readonly Sibling[]
}

export interface RecordLimits {
  /** Encoded size of a record. */
  maxBytes: number
  /** Siblings in one record. Merges never drop a sibling to meet this: a record over it cannot be encoded. */
  maxSiblings: number
  /** Entries (vector entries plus loose dots) of one sibling's context. */
  maxContextEntries: number
  /** Characters of a CID string. */
  maxCidLength: number
  /** Entries of a value's `meta`. */
  maxMetaEntries: number
  /** UTF-8 bytes of all of a value's `meta` keys and values together. */
  maxMetaBytes: number
}

export const DEFAULT_RECORD_LIMITS: Readonly<RecordLimits> = Object.freeze({
  maxBytes: 1024 * 1024,
  maxSiblings: 1024,
  maxContextEntries: 1024,
  maxCidLength: 256,
  maxMetaEntries: 16,
  maxMetaBytes: 1024
})

export const SIGNATURE_BYTES = 64
const MAX_MODE = 0xffffffff
const utf8 = new TextEncoder()

export function isTombstone (value: NameValue): value is Tombstone {
  return (value as Tombstone).deleted === true
}

// ---- validation ----

type Fail = (message: string) => never

const argumentFail: Fail = (message) => { throw new InvalidArgumentError(message) }

function validString (s: unknown): s is string {
  return typeof s === 'string' && s.isWellFormed()
}

function checkActor (actor: unknown, what: string, fail: Fail): asserts actor is string {
  try {
    validateActor(actor)
  } catch (err) {
    fail(`${what}: ${(err as Error).message}`)
  }
}

function checkTime (t: unknown, what: string, fail: Fail): asserts t is number {
  if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 0) fail(`${what}: expected an integer number of milliseconds >= 0 and < 2^53, got ${showNumber(t)}`)
}

function showNumber (n: unknown): string {
  if (typeof n === 'bigint') return `${n}n`
  if (typeof n === 'number' || typeof n === 'boolean' || n == null) return String(n)
  return typeof n
}

/**
 * `value` checked against the limits, as a fresh frozen object with exactly
 * the fields of its kind (throws through `fail`). `cid` must be the CID's own
 * string form (CID.toString()).
 */
export function checkValue (value: unknown, limits: RecordLimits = DEFAULT_RECORD_LIMITS, fail: Fail = argumentFail): NameValue {
  if (typeof value !== 'object' || value == null) fail(`Invalid value: expected an object, got ${value === null ? 'null' : typeof value}`)
  const v = value as Record<string, unknown>
  const allowed = v.deleted !== undefined ? ['deleted', 'mtime', 'owner'] : ['cid', 'size', 'mode', 'mtime', 'owner', 'meta']
  for (const field of Object.keys(v)) {
    if (!allowed.includes(field) && v[field] !== undefined) fail(`Invalid value: unknown field "${field}"`)
  }
  checkTime(v.mtime, 'Invalid value mtime', fail)
  checkActor(v.owner, 'Invalid value owner', fail)
  if (v.deleted !== undefined) {
    if (v.deleted !== true) fail('Invalid tombstone: "deleted" must be true')
    return Object.freeze({ deleted: true, mtime: v.mtime, owner: v.owner })
  }
  if (!validString(v.cid) || v.cid.length === 0 || v.cid.length > limits.maxCidLength) fail(`Invalid value cid: expected a CID string of at most ${limits.maxCidLength} characters`)
  let cid: CID
  try {
    cid = CID.parse(v.cid)
  } catch {
    fail(`Invalid value cid "${v.cid}": not a CID`)
  }
  if (cid.toString() !== v.cid) fail(`Invalid value cid "${v.cid}": not in canonical form (expected "${cid.toString()}")`)
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) fail(`Invalid value size: expected an integer 0 <= size < 2^53, got ${showNumber(v.size)}`)
  const out: { cid: string, size: number, mode?: number, mtime: number, owner: string, meta?: Readonly<Record<string, string>> } = {
    cid: v.cid, size: v.size, mtime: v.mtime, owner: v.owner
  }
  if (v.mode !== undefined) {
    if (typeof v.mode !== 'number' || !Number.isInteger(v.mode) || v.mode < 0 || v.mode > MAX_MODE) fail(`Invalid value mode: expected an integer 0 <= mode <= 0xffffffff, got ${showNumber(v.mode)}`)
    out.mode = v.mode
  }
  if (v.meta !== undefined) out.meta = checkMeta(v.meta, limits, fail)
  return Object.freeze(out)
}

function checkMeta (meta: unknown, limits: RecordLimits, fail: Fail): Readonly<Record<string, string>> {
  const entries = meta instanceof Map
    ? [...meta.entries()]
    : typeof meta === 'object' && meta != null && !Array.isArray(meta) && !(meta instanceof Uint8Array) ? Object.entries(meta) : fail('Invalid value meta: expected a map of strings to strings')
  if (entries.length > limits.maxMetaEntries) fail(`Invalid value meta: ${entries.length} entries, the limit is ${limits.maxMetaEntries}`)
  let bytes = 0
  for (const [k, val] of entries) {
    if (!validString(k) || k.length === 0) fail('Invalid value meta: keys must be non-empty well-formed strings')
    if (!validString(val)) fail(`Invalid value meta "${k}": values must be well-formed strings`)
    bytes += utf8.encode(k).length + utf8.encode(val).length
  }
  if (bytes > limits.maxMetaBytes) fail(`Invalid value meta: ${bytes} bytes, the limit is ${limits.maxMetaBytes}`)
  // Object.fromEntries defines own properties: a "__proto__" key stays a plain key
  return Object.freeze(Object.fromEntries(entries as Array<[string, string]>))
}

function checkContext (ctx: CausalContext, limits: RecordLimits, what: string, fail: Fail): void {
  const size = contextSize(ctx)
  if (size > limits.maxContextEntries) fail(`${what}: its context has ${size} entries, the limit is ${limits.maxContextEntries}`)
}

// ---- canonical encoding ----

function encodeContextParts (ctx: CausalContext): [Array<[string, number]>, Array<[string, number]>] {
  const actors = Object.keys(ctx.vector).sort(compareActors)
  return [actors.map(a => [a, ctx.vector[a]]), ctx.dots.map(d => [d.actor, d.counter])]
}

function encodeValueParts (value: NameValue): Record<string, unknown> {
  if (isTombstone(value)) return { deleted: true, mtime: value.mtime, owner: value.owner }
  const out: Record<string, unknown> = { cid: value.cid, size: value.size, mtime: value.mtime, owner: value.owner }
  if (value.mode !== undefined) out.mode = value.mode
  // a Map, so that any key (even "__proto__") is encoded as given; cborg sorts it
  if (value.meta !== undefined) out.meta = new Map(Object.entries(value.meta))
  return out
}

/** The bytes a sibling's signature covers. */
export function signingPayload (key: string, write: { dot: Dot, context: CausalContext, value: NameValue }): Uint8Array {
  return cborEncode([SIGNING_DOMAIN, RECORD_VERSION, key, [write.dot.actor, write.dot.counter], encodeContextParts(write.context), encodeValueParts(write.value)])
}

function siblingParts (s: Sibling): Record<string, unknown> {
  return { dot: [s.dot.actor, s.dot.counter], ctx: encodeContextParts(s.context), val: encodeValueParts(s.value), sig: s.signature }
}

const siblingBytesCache = new WeakMap<Sibling, Uint8Array>()

/** The canonical CBOR of one sibling (its identity: equal bytes, same sibling). */
export function siblingBytes (s: Sibling): Uint8Array {
  let bytes = siblingBytesCache.get(s)
  if (bytes == null) {
    bytes = cborEncode(siblingParts(s))
    if (Object.isFrozen(s)) siblingBytesCache.set(s, bytes)
  }
  return bytes
}

/** The canonical order of siblings: by dot, then by bytes. */
export function compareSiblings (a: Sibling, b: Sibling): number {
  return compareDots(a.dot, b.dot) || compareBytes(siblingBytes(a), siblingBytes(b))
}

/**
 * The canonical sibling list of a record holding all of `siblings`: duplicates
 * removed, every sibling another one obsoletes removed, sorted. Pure and
 * structural: signatures are not looked at.
 */
export function canonicalSiblings (siblings: Iterable<Sibling>): Sibling[] {
  const unique = new Map<string, Sibling>()
  for (const s of siblings) {
    const id = base64url.baseEncode(siblingBytes(s))
    if (!unique.has(id)) unique.set(id, s)
  }
  return maximal([...unique.values()], clockOf).sort(compareSiblings)
}

/**
 * Throws through `fail` unless `record` is well-formed, canonical and within
 * `limits`: normalised key, 1..maxSiblings siblings in canonical order, none
 * obsoleting another, valid values, no context including its own dot.
 */
export function checkRecord (record: NameRecord, limits: RecordLimits = DEFAULT_RECORD_LIMITS, fail: Fail = (m) => { throw new InvalidRecordError(m) }): void {
  if (typeof record !== 'object' || record == null) fail('Invalid name record: expected an object')
  if (!validString(record.key) || !isNormalisedName(record.key)) fail(`Invalid name record: key ${JSON.stringify(String(record.key).slice(0, 100))} is not a normalised name`)
  const where = `Invalid name record "${record.key}"`
  if (!Array.isArray(record.siblings) || record.siblings.length === 0) fail(`${where}: it has no siblings`)
  if (record.siblings.length > limits.maxSiblings) fail(`${where}: ${record.siblings.length} siblings, the limit is ${limits.maxSiblings}`)
  record.siblings.forEach((s, i) => {
    const at = `${where}, sibling ${i}`
    checkActor(s.dot?.actor, `${at}: dot actor`, fail)
    if (!isCounter(s.dot.counter)) fail(`${at}: dot counter ${showNumber(s.dot.counter)} is not an integer 1 <= n < 2^53`)
    checkContext(s.context, limits, at, fail)
    if (contains(s.context, s.dot)) fail(`${at}: its context includes its own dot (${s.dot.actor}, ${s.dot.counter})`)
    checkValue(s.value, limits, (m) => fail(`${at}: ${m}`))
    if (!(s.signature instanceof Uint8Array) || s.signature.length !== SIGNATURE_BYTES) fail(`${at}: the signature must be ${SIGNATURE_BYTES} bytes`)
  })
  const canonical = canonicalSiblings(record.siblings)
  if (canonical.length !== record.siblings.length || canonical.some((s, i) => s !== record.siblings[i])) {
    fail(`${where}: siblings are duplicated, out of order, or obsoleted by another sibling`)
  }
}

/** Canonical CBOR of `record` (InvalidRecordError if it is malformed or over a limit). */
export function encodeRecord (record: NameRecord, limits: RecordLimits = DEFAULT_RECORD_LIMITS): Uint8Array {
  checkRecord(record, limits)
  const bytes = cborEncode({ v: RECORD_VERSION, key: record.key, sibs: record.siblings.map(siblingParts) })
  if (bytes.length > limits.maxBytes) throw new InvalidRecordError(`Invalid name record "${record.key}": ${bytes.length} bytes encoded, the limit is ${limits.maxBytes}`)
  return bytes
}

const DECODE_OPTIONS = {
  strict: true,
  useMaps: true,
  rejectDuplicateMapKeys: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: true
}

function isMap (x: unknown): x is Map<unknown, unknown> {
  return x instanceof Map
}

function mapFields (x: unknown, what: string, required: string[], optional: string[], fail: Fail): Map<unknown, unknown> {
  if (!isMap(x)) fail(`${what}: expected a map`)
  for (const k of x.keys()) {
    if (typeof k !== 'string' || (!required.includes(k) && !optional.includes(k))) fail(`${what}: unexpected field ${typeof k === 'string' ? JSON.stringify(k) : typeof k}`)
  }
  for (const k of required) if (!x.has(k)) fail(`${what}: missing field "${k}"`)
  return x
}

function parsePairs (x: unknown, what: string, limit: number, fail: Fail): Array<[string, number]> {
  if (!Array.isArray(x)) fail(`${what}: expected an array`)
  if (x.length > limit) fail(`${what}: ${x.length} entries, the limit is ${limit}`)
  return x.map((pair, i) => {
    if (!Array.isArray(pair) || pair.length !== 2) fail(`${what} ${i}: expected [actor, counter]`)
    checkActor(pair[0], `${what} ${i}`, fail)
    if (!isCounter(pair[1])) fail(`${what} ${i}: counter ${showNumber(pair[1])} is not an integer 1 <= n < 2^53`)
    return [pair[0], pair[1]]
  })
}

function parseContext (x: unknown, what: string, limits: RecordLimits, fail: Fail): CausalContext {
  if (!Array.isArray(x) || x.length !== 2) fail(`${what}: expected [vector, dots]`)
  const vector = parsePairs(x[0], `${what} vector entry`, limits.maxContextEntries, fail)
  const dots = parsePairs(x[1], `${what} dot`, limits.maxContextEntries, fail)
  if (vector.length + dots.length > limits.maxContextEntries) fail(`${what}: ${vector.length + dots.length} entries, the limit is ${limits.maxContextEntries}`)
  const seen = new Set<string>()
  for (const [actor] of vector) {
    if (seen.has(actor)) fail(`${what}: actor "${actor}" appears twice in the vector`)
    seen.add(actor)
  }
  // the canonical re-encoding (decodeRecord) rejects anything not in normal form
  return createContext(Object.fromEntries(vector), dots.map(([actor, counter]) => ({ actor, counter })))
}

function parseSibling (x: unknown, what: string, limits: RecordLimits, fail: Fail): Sibling {
  const m = mapFields(x, what, ['dot', 'ctx', 'val', 'sig'], [], fail)
  const dotRaw = m.get('dot')
  if (!Array.isArray(dotRaw) || dotRaw.length !== 2) fail(`${what}: dot must be [actor, counter]`)
  checkActor(dotRaw[0], `${what}: dot actor`, fail)
  if (!isCounter(dotRaw[1])) fail(`${what}: dot counter ${showNumber(dotRaw[1])} is not an integer 1 <= n < 2^53`)
  const context = parseContext(m.get('ctx'), `${what}: context`, limits, fail)
  const valRaw = m.get('val')
  if (!isMap(valRaw)) fail(`${what}: value must be a map`)
  if (valRaw.has('deleted')) mapFields(valRaw, `${what}: tombstone`, ['deleted', 'mtime', 'owner'], [], fail)
  else mapFields(valRaw, `${what}: value`, ['cid', 'size', 'mtime', 'owner'], ['mode', 'meta'], fail)
  const value = checkValue(Object.fromEntries(valRaw as Map<string, unknown>), limits, (msg) => fail(`${what}: ${msg}`))
  const sig = m.get('sig')
  if (!(sig instanceof Uint8Array) || sig.length !== SIGNATURE_BYTES) fail(`${what}: the signature must be ${SIGNATURE_BYTES} bytes`)
  return Object.freeze({ dot: Object.freeze({ actor: dotRaw[0], counter: dotRaw[1] }), context, value, signature: sig })
}

/**
 * The record in `bytes`, checked against `limits` (defaults: DEFAULT_RECORD_LIMITS).
 * Throws InvalidRecordError on anything malformed, over a limit or not canonical.
 * Does not verify signatures (verifyRecord does).
 */
export function decodeRecord (bytes: Uint8Array, limits: Partial<RecordLimits> = {}): NameRecord {
  const lim: RecordLimits = { ...DEFAULT_RECORD_LIMITS, ...limits }
  const fail: Fail = (m) => { throw new InvalidRecordError(m) }
  if (!(bytes instanceof Uint8Array)) fail('Invalid name record: expected bytes')
  if (bytes.length > lim.maxBytes) fail(`Invalid name record: ${bytes.length} bytes, the limit is ${lim.maxBytes}`)
  let raw: unknown
  try {
    raw = cborDecode(bytes, DECODE_OPTIONS)
  } catch (err) {
    throw new InvalidRecordError(`Invalid name record: not valid canonical CBOR (${(err as Error).message})`, { cause: err })
  }
  const top = mapFields(raw, 'Invalid name record', ['v', 'key', 'sibs'], [], fail)
  if (top.get('v') !== RECORD_VERSION) fail(`Invalid name record: unsupported version ${showNumber(top.get('v'))} (this node reads version ${RECORD_VERSION})`)
  const key = top.get('key')
  if (!validString(key) || !isNormalisedName(key)) fail(`Invalid name record: key ${JSON.stringify(String(key).slice(0, 100))} is not a normalised name`)
  const sibsRaw = top.get('sibs')
  if (!Array.isArray(sibsRaw) || sibsRaw.length === 0) fail(`Invalid name record "${key}": expected a non-empty array of siblings`)
  if (sibsRaw.length > lim.maxSiblings) fail(`Invalid name record "${key}": ${sibsRaw.length} siblings, the limit is ${lim.maxSiblings}`)
  const siblings = sibsRaw.map((s, i) => parseSibling(s, `Invalid name record "${key}", sibling ${i}`, lim, fail))
  const record: NameRecord = Object.freeze({ key, siblings: Object.freeze(siblings) })
  checkRecord(record, lim, fail)
  const again = cborEncode({ v: RECORD_VERSION, key: record.key, sibs: record.siblings.map(siblingParts) })
  if (!equalBytes(again, bytes)) fail(`Invalid name record "${key}": not canonically encoded`)
  return record
}

// ---- signatures ----

/** The sibling for one write, signed with `privateKey` (whose peer id must be `value.owner`). */
export async function signSibling (key: string, write: { dot: Dot, context: CausalContext, value: NameValue }, privateKey: PrivateKey): Promise<Sibling> {
  if (privateKey.type !== 'Ed25519') throw new InvalidArgumentError(`Cannot sign a name with a ${privateKey.type} key: names are signed with Ed25519 keys`)
  const signer = peerIdFromPrivateKey(privateKey).toString()
  if (write.value.owner !== signer) throw new InvalidArgumentError(`Cannot sign a value owned by "${write.value.owner}" with the key of "${signer}"`)
  const signature = await privateKey.sign(signingPayload(key, write))
  return Object.freeze({ dot: write.dot, context: write.context, value: write.value, signature })
}

/** Throws InvalidSignatureError unless `sibling` was signed, for `key`, by its value's owner. */
export async function verifySibling (key: string, sibling: Sibling): Promise<void> {
  const { owner } = sibling.value
  const what = `Invalid signature on name "${key}", write (${sibling.dot.actor}, ${sibling.dot.counter}) by "${owner}"`
  let publicKey
  try {
    const peerId = peerIdFromString(owner)
    if (peerId.toString() !== owner) throw new Error('the peer id is not in its canonical string form')
    publicKey = peerId.publicKey
  } catch (err) {
    throw new InvalidSignatureError(`${what}: ${(err as Error).message}`, { cause: err })
  }
  if (publicKey?.type !== 'Ed25519') throw new InvalidSignatureError(`${what}: the owner's peer id does not hold an Ed25519 public key`)
  let ok = false
  try {
    ok = await publicKey.verify(signingPayload(key, sibling), sibling.signature)
  } catch (err) {
    throw new InvalidSignatureError(`${what}: ${(err as Error).message}`, { cause: err })
  }
  if (!ok) throw new InvalidSignatureError(`${what}: the signature does not match (forged, or the value or its version vector was altered)`)
}

/** Throws InvalidSignatureError unless every sibling of `record` is signed by its owner. */
export async function verifyRecord (record: NameRecord): Promise<void> {
  for (const s of record.siblings) await verifySibling(record.key, s)
}

// ---- context tokens ----

/**
 * An opaque token for `ctx` (what a client sends back with its next write):
 * base64url, no padding, of the CBOR [1, vector, dots].
 */
export function encodeContext (ctx: CausalContext): string {
  return base64url.baseEncode(cborEncode([CONTEXT_TOKEN_VERSION, ...encodeContextParts(ctx)]))
}

/** The context in a token from encodeContext; InvalidArgumentError if it is not one. */
export function decodeContext (token: string, limits: Partial<RecordLimits> = {}): CausalContext {
  const lim: RecordLimits = { ...DEFAULT_RECORD_LIMITS, ...limits }
  const fail: Fail = (m) => { throw new InvalidArgumentError(m) }
  if (typeof token !== 'string') fail('Invalid context token: expected a string')
  if (token === '') return createContext()
  // a context's entries are at most ~150 bytes each
  if (token.length > (lim.maxContextEntries * 200 * 4) / 3 + 16) fail('Invalid context token: too long')
  let raw: unknown
  let bytes: Uint8Array
  try {
    bytes = base64url.baseDecode(token)
    raw = cborDecode(bytes, DECODE_OPTIONS)
  } catch (err) {
    throw new InvalidArgumentError('Invalid context token: it is not one a read gave (send back the "context" of name get --json, unchanged)', { cause: err })
  }
  if (!Array.isArray(raw) || raw.length !== 3 || raw[0] !== CONTEXT_TOKEN_VERSION) fail('Invalid context token: not a version 1 context')
  const ctx = parseContext(raw.slice(1), 'Invalid context token', lim, fail)
  if (encodeContext(ctx) !== token) fail('Invalid context token: not canonically encoded')
  return ctx
}
