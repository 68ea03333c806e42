/**
 * The namespace service of one node: mutable names replicated on the k
 * peers nearest to sha2-256 of the name's UTF-8 bytes (the same placement
 * as blocks), reconciled with the pure core of this directory.
 *
 * Writes (put, remove, resolve) can go through any node, the coordinator:
 * - it is the write's actor and signer, and it keeps the key's record
 *   durably itself, replica or not, and applies its write to it before
 *   sending it anywhere (merge.ts's contract: its counters never repeat). A
 *   coordinator that is not a replica hands the record off: it drops its
 *   copy once every member of the replica set has been seen holding it, and
 *   keeps only its highest counter for the key (name_counters), so a later
 *   write through it still gets a fresh dot. Forwarding to the nearest
 *   replica instead would make that replica the owner and signer of a write
 *   the user made elsewhere, and add a hop on which a write can be lost.
 * - the new record goes to every other replica; the write is acknowledged
 *   at the write quorum W (the node's ReplicationPolicy, never lowered to
 *   what is reachable), counting this node when it is a replica. Below
 *   quorum it fails with QuorumError, and the record stays here (and on
 *   whoever took it) and is re-synced.
 * Reads ask R replicas (default 2; this node answers for itself when it is
 * one), trying the next replica when one fails, merge what they hold, repair
 * the replicas (and this node's copy) that are behind, and return the view.
 *
 * Re-sync: when a storage peer joins (connects) and every syncIntervalMs
 * with one peer in turn, this node sends the peer a digest (name, hash of
 * the record) of the names it holds whose replica set includes the peer;
 * every name that differs is PUT, and the answer carries back what this
 * node lacks. Both sides do this, so a pair converges in one round.
 *
 * Tombstones: a record of tombstones only is dropped when every replica of
 * the key in the current view, and every peer known to have held the key,
 * has been seen holding exactly this record (by a PUT's answer or a digest),
 * and tombstoneGraceMs have passed since this node first held it as
 * tombstones only (by its own clock: a writer's clock plays no part).
 *
 * Every record from the network is decoded, checked (a write's dot must be
 * its signer's: actor = owner) and its new siblings' signatures verified
 * before it is merged; a bad one is refused and logged with the peer id.
 */
import type { PeerId, PrivateKey, Stream } from '@libp2p/interface'
import { base64url } from 'multiformats/bases/base64'
import { compare as compareBytes } from 'uint8arrays/compare'
import { equals as equalBytes } from 'uint8arrays/equals'
import { AbortedError, InvalidArgumentError, InvalidRecordError, NameNotFoundError, NameUnavailableError, QuorumError } from '../errors.ts'
import { silentLogger } from '../platform/logger.ts'
import type { Logger } from '../platform/logger.ts'
import { DEFAULT_NAME_SYNC_LIMITS, NAME_SYNC_PROTOCOL, NameSession, nameSyncHandler, recordHash } from '../protocols/name-sync.ts'
import { SessionPool } from '../protocols/session-pool.ts'
import type { NameSyncLimits, NameSyncStore } from '../protocols/name-sync.ts'
import type { ReplicationPolicy } from '../replication/policy.ts'
import type { NameRow } from '../store/metadata.ts'
import { canCollectTombstone, liveSiblings, mergeRecords, resolveView, writeRecord } from './merge.ts'
import type { NameValueInput, WriteResult } from './merge.ts'
import { parseCid } from '../content/blocks.ts'
import { normaliseName } from './path.ts'
import { decodeContext, decodeRecord, encodeRecord, isTombstone, siblingBytes, verifySibling } from './record.ts'
import type { NameRecord, Sibling } from './record.ts'

/** The peers this service places names on (src/replication/membership.ts). */
export interface NameMembership {
  readonly self: PeerId
  /** connected storage peers, not self */
  peers(): PeerId[]
  /** nearest first, self included */
  replicaSet(key: Uint8Array, k: number): PeerId[]
  lookupReplicaSet(key: Uint8Array, k: number, options?: { signal?: AbortSignal }): Promise<PeerId[]>
  onChange(listener: (peer: PeerId, joined: boolean) => void): () => void
}

/** Where names are kept (src/store/metadata.ts). */
export interface NameStorage {
  getName(key: string): NameRow | undefined
  putName(row: { key: string, record: Uint8Array, hash: Uint8Array, live: boolean, at?: number }, counter?: number): void
  deleteName(key: string, grave?: { record: Uint8Array, hash: Uint8Array, at?: number }): boolean
  getNameGrave(key: string): { record: Uint8Array, hash: Uint8Array, at: number } | undefined
  purgeNameGraves(before: number): number
  listNames(options?: { prefix?: string, after?: string, limit?: number }): NameRow[]
  nameCounter(key: string): number
  setNamePeer(key: string, peer: string, hash: Uint8Array): void
  namePeers(key: string): Array<{ peer: string, hash: Uint8Array }>
}

export interface NameServiceOptions {
  /** wall clock, ms: values' mtime and the tombstone grace period (tests skew it) */
  now?(): number
  /** re-sync with one peer in turn, and sweep, this often (default 60 s; 0: never) */
  syncIntervalMs?: number
  /** wait this long after a peer joins before syncing with it (default 200 ms) */
  joinSyncDelayMs?: number
  /** how long a deleted name's tombstones are kept once every replica has them (default 24 h) */
  tombstoneGraceMs?: number
  /** most names `list` gathers (default 10 000) */
  maxListNames?: number
  limits?: Partial<NameSyncLimits>
}

export interface NameServiceInit extends NameServiceOptions {
  /** k, the write quorum (a promise: never lowered) and the read quorum; the same policy as blocks */
  policy: Pick<ReplicationPolicy, 'k' | 'writeQuorum' | 'readQuorum'>
  /** this node's key: it signs the writes it coordinates */
  privateKey: PrivateKey
  membership: NameMembership
  dial(peer: PeerId, protocol: string, options: { signal?: AbortSignal }): Promise<Stream>
  storage: NameStorage
  /** size and mode of a CID, for writes that do not give them (the node's files.stat) */
  statCid?(cid: string, options: { signal?: AbortSignal }): Promise<{ size: number, mode?: number }>
  logger?: Logger
}

// ---- what the service answers (plain JSON) ----

export interface SiblingInfo {
  /** the write's dot, "actor:counter" */
  version: string
  deleted?: true
  cid?: string
  size?: number
  mode?: number
  /** ms since the epoch, by the writer's clock (display only) */
  mtime: number
  owner: string
  meta?: Record<string, string>
}

export interface NameInfo {
  path: string
  /** at least one live value */
  exists: boolean
  /** more than one live value: resolve it with a write whose context covers them */
  conflict: boolean
  /** the default winner (latest mtime, then owner), for display; null when none */
  value: SiblingInfo | null
  /** every sibling: live values (the winner first), then tombstones */
  siblings: SiblingInfo[]
  /** send this back with the next write to replace what was read */
  context: string
}

export interface GetResult extends NameInfo {
  replicas: { asked: number, answered: number }
}

export interface WriteOutcome extends NameInfo {
  written: SiblingInfo
  /** siblings this write replaced */
  replaced: number
  replicas: { confirmed: number, quorum: number, replicaSet: number }
  /** set when the name has more siblings than merge.ts's SIBLING_WARN */
  warning?: string
}

export interface PutInput {
  cid: string
  size?: number
  mode?: number
  meta?: Record<string, string>
}

const utf8 = new TextEncoder()

/** The placement key of a name: its UTF-8 bytes (placement hashes them with sha2-256). */
export function nameKey (key: string): Uint8Array {
  return utf8.encode(key)
}

function siblingInfo (s: Sibling): SiblingInfo {
  const v = s.value
  const out: SiblingInfo = { version: `${s.dot.actor}:${s.dot.counter}`, mtime: v.mtime, owner: v.owner }
  if (isTombstone(v)) {
    out.deleted = true
    return out
  }
  out.cid = v.cid
  out.size = v.size
  if (v.mode !== undefined) out.mode = v.mode
  if (v.meta !== undefined) out.meta = { ...v.meta }
  return out
}

/** The JSON view of a record (absent: no record). */
export function nameInfo (record: NameRecord | undefined, key: string): NameInfo {
  const view = resolveView(record, key)
  const live = liveSiblings(record)
  const dead = record == null ? [] : record.siblings.filter(s => isTombstone(s.value))
  const siblings = [...live, ...dead].map(siblingInfo)
  return { path: key, exists: view.exists, conflict: view.conflict, value: live.length > 0 ? siblings[0] : null, siblings, context: view.context }
}

interface Held {
  record: NameRecord
  bytes: Uint8Array
  hash: Uint8Array
}

export class NameService {
  private readonly init: NameServiceInit
  private readonly log: Logger
  private readonly k: number
  private readonly writeQuorum: number
  private readonly readQuorum: number
  private readonly limits: NameSyncLimits
  private readonly selfId: string
  private readonly sessions: SessionPool<NameSession>
  private readonly locks = new Map<string, Promise<void>>()
  private readonly joinTimers = new Map<string, ReturnType<typeof setTimeout>>()
  private readonly syncing = new Map<string, Promise<unknown>>()
  private unsubscribe?: () => void
  private timer?: ReturnType<typeof setInterval>
  private turn = 0
  private running = false

  constructor (init: NameServiceInit) {
    this.init = init
    this.log = init.logger ?? silentLogger
    this.k = init.policy.k
    this.writeQuorum = init.policy.writeQuorum
    this.readQuorum = init.policy.readQuorum
    this.limits = { ...DEFAULT_NAME_SYNC_LIMITS, ...init.limits }
    this.selfId = init.membership.self.toString()
    this.sessions = new SessionPool({
      open: async (peer, { signal }) => new NameSession(await init.dial(peer, NAME_SYNC_PROTOCOL, { signal }), peer, this.limits)
    })
  }

  private now (): number {
    return this.init.now?.() ?? Date.now()
  }

  start (): void {
    if (this.running) return
    this.running = true
    this.unsubscribe = this.init.membership.onChange((peer, joined) => {
      if (joined) this.scheduleSync(peer)
      else void this.sessions.drop(peer)
    })
    const interval = this.init.syncIntervalMs ?? 60_000
    if (interval > 0) {
      this.timer = setInterval(() => { void this.tick() }, interval)
      this.timer.unref?.()
    }
  }

  async stop (): Promise<void> {
    this.running = false
    this.unsubscribe?.()
    if (this.timer != null) clearInterval(this.timer)
    for (const t of this.joinTimers.values()) clearTimeout(t)
    this.joinTimers.clear()
    await this.sessions.closeAll()
    await Promise.allSettled([...this.syncing.values()])
  }

  /** The `/shoal/names/1.0.0` handler (register it with NAME_SYNC_PROTOCOL). */
  handler (): ReturnType<typeof nameSyncHandler> {
    return nameSyncHandler({ store: this.syncStore(), limits: this.limits, logger: this.log })
  }

  get protocol (): string {
    return NAME_SYNC_PROTOCOL
  }

  // ---- local records ----

  private held (key: string): Held | undefined {
    const row = this.init.storage.getName(key)
    if (row == null) return undefined
    return { record: decodeRecord(row.record), bytes: row.record, hash: row.hash }
  }

  /**
   * Stores merge(local, record) durably and returns what is held now.
   * Synchronous from read to write, so concurrent merges never lose one another.
   */
  private mergeLocal (record: NameRecord, counter?: number): Held & { changed: boolean } {
    const { storage } = this.init
    const row = storage.getName(record.key)
    let base = row == null ? undefined : decodeRecord(row.record)
    if (row == null) {
      // a name whose tombstones this node collected: what they obsolete stays gone
      const grave = storage.getNameGrave(record.key)
      if (grave != null) {
        base = decodeRecord(grave.record)
        const merged = mergeRecords(base, record)
        if (equalBytes(recordHash(encodeRecord(merged)), grave.hash)) return { record: base, bytes: grave.record, hash: grave.hash, changed: false }
      }
    }
    const merged = base == null ? record : mergeRecords(base, record)
    const bytes = encodeRecord(merged)
    const hash = recordHash(bytes)
    const changed = row == null || !equalBytes(row.hash, hash)
    if (changed || counter != null) {
      storage.putName({ key: merged.key, record: bytes, hash, live: merged.siblings.some(s => !isTombstone(s.value)), at: this.now() }, counter)
    }
    return { record: merged, bytes, hash, changed }
  }

  /**
   * Decodes a record from `from`, checks that every write's dot is its
   * signer's, and verifies the signatures of the siblings this node does
   * not already hold. Throws InvalidRecordError / InvalidSignatureError.
   */
  private async accept (bytes: Uint8Array, expectKey?: string): Promise<NameRecord> {
    const record = decodeRecord(bytes, { maxBytes: this.limits.maxRecordBytes })
    if (expectKey != null && record.key !== expectKey) throw new InvalidRecordError(`Invalid name record: asked for "${expectKey}", got "${record.key}"`)
    const known = new Set<string>()
    const row = this.init.storage.getName(record.key)
    if (row != null) for (const s of decodeRecord(row.record).siblings) known.add(base64url.baseEncode(siblingBytes(s)))
    for (const s of record.siblings) {
      if (s.dot.actor !== s.value.owner) {
        throw new InvalidRecordError(`Invalid name record "${record.key}": write (${s.dot.actor}, ${s.dot.counter}) is signed by "${s.value.owner}", not by its coordinator`)
      }
      if (!known.has(base64url.baseEncode(siblingBytes(s)))) await verifySibling(record.key, s)
    }
    return record
  }

  private syncStore (): NameSyncStore {
    const { storage } = this.init
    return {
      put: async (bytes, { from }) => {
        const record = await this.accept(bytes)
        const held = this.mergeLocal(record)
        // (a collected name stays collected: no bookkeeping for it)
        if (storage.getName(record.key) != null) storage.setNamePeer(record.key, from.toString(), recordHash(bytes))
        if (held.changed) this.log.debug('name record merged from peer', { key: record.key, peer: from.toString() })
        return { hash: held.hash, record: held.bytes }
      },
      get: async (key) => storage.getName(key)?.record,
      hashes: async (entries, { from }) => entries.map(([key, theirs]) => {
        const row = storage.getName(key)
        if (row != null) storage.setNamePeer(key, from.toString(), theirs)
        // a collected name answers with the record it collected: a peer holding the same collects too
        return row?.hash ?? storage.getNameGrave(key)?.hash
      }),
      list: async (prefix, after, { maxRecords, maxBytes }) => {
        const normal = prefix === '/' ? '/' : normaliseName(prefix)
        const rows = storage.listNames({ prefix: normal, after, limit: maxRecords + 1 })
        const records: Uint8Array[] = []
        let bytes = 0
        for (const row of rows.slice(0, maxRecords)) {
          if (records.length > 0 && bytes + row.record.byteLength > maxBytes) return { records, more: true }
          records.push(row.record)
          bytes += row.record.byteLength
        }
        return { records, more: rows.length > maxRecords }
      }
    }
  }

  // ---- sessions ----

  /** Runs `fn` on a session to `peer` (a stream that turns out to have ended is replaced once). */
  private async call<T> (peer: PeerId, fn: (s: NameSession) => Promise<T>, signal?: AbortSignal): Promise<T> {
    return await this.sessions.call(peer, fn, { signal })
  }

  private async withLock<T> (key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(key) ?? Promise.resolve()
    const { promise, resolve } = Promise.withResolvers<void>()
    const mine = previous.then(async () => await promise)
    this.locks.set(key, mine)
    await previous
    try {
      return await fn()
    } finally {
      resolve()
      if (this.locks.get(key) === mine) this.locks.delete(key)
    }
  }

  // ---- writes ----

  /** Points `path` at `cid`. Without a context the write is blind: it replaces nothing, what is there stays as siblings. */
  async put (path: string, input: PutInput, options: { context?: string, signal?: AbortSignal } = {}): Promise<WriteOutcome> {
    const key = normaliseName(path)
    if (typeof input?.cid !== 'string' || input.cid === '') throw new InvalidArgumentError(`Cannot write "${key}": a CID is needed`)
    parseCid(input.cid)
    let { size, mode } = input
    if (size == null) {
      if (this.init.statCid == null) throw new InvalidArgumentError(`Cannot write "${key}": the size of ${input.cid} was not given`)
      try {
        const stat = await this.init.statCid(input.cid, { signal: options.signal })
        size = stat.size
        mode = mode ?? stat.mode
      } catch (err) {
        throw new InvalidArgumentError(`Cannot write "${key}": cannot find the size of ${input.cid} (${(err as Error).message}); give the size, or add the content first`, { cause: err })
      }
    }
    const value: NameValueInput = { cid: input.cid, size, ...(mode != null ? { mode } : {}), ...(input.meta != null ? { meta: input.meta } : {}) }
    return await this.write(key, value, options.context, options.signal)
  }

  /**
   * Deletes `path`: a tombstone replacing what the context covers (default:
   * everything a read sees now).
   */
  async remove (path: string, options: { context?: string, signal?: AbortSignal } = {}): Promise<WriteOutcome> {
    const key = normaliseName(path)
    let context = options.context
    if (context == null) {
      const read = await this.get(key, { signal: options.signal })
      if (!read.exists) throw new NameNotFoundError(key, `Cannot remove "${key}": it does not exist`)
      context = read.context
    }
    return await this.write(key, { deleted: true }, context, options.signal)
  }

  /** Makes `cid` the one value of `path`: a write whose context covers every current sibling. */
  async resolve (path: string, cid: string, options: { size?: number, mode?: number, signal?: AbortSignal } = {}): Promise<WriteOutcome> {
    const key = normaliseName(path)
    const read = await this.get(key, { signal: options.signal })
    // the size and mode of a sibling with this CID, unless given
    const same = read.siblings.find(s => s.cid === cid)
    const size = options.size ?? same?.size
    const mode = options.mode ?? (options.size == null ? same?.mode : undefined)
    return await this.put(key, { cid, size, mode }, { context: read.context, signal: options.signal })
  }

  private async write (key: string, value: NameValueInput, contextToken: string | undefined, signal?: AbortSignal): Promise<WriteOutcome> {
    const context = contextToken == null ? undefined : decodeContext(contextToken)
    const keyBytes = nameKey(key)
    const set = await this.init.membership.lookupReplicaSet(keyBytes, this.k, { signal })
    if (signal?.aborted === true) throw new AbortedError()
    // the actor keeps the record: sign and apply locally under the key's lock, durably
    let result!: WriteResult
    let held = await this.withLock(key, async () => {
      const current = this.held(key)
      result = await writeRecord(current?.record, {
        key,
        value,
        context,
        actor: this.selfId,
        privateKey: this.init.privateKey,
        now: this.now(),
        minCounter: this.init.storage.nameCounter(key)
      })
      return this.mergeLocal(result.record, result.written.dot.counter)
    })
    const selfIsReplica = set.some(p => p.toString() === this.selfId)
    const others = set.filter(p => p.toString() !== this.selfId)
    // the quorum is a promise: with fewer replicas reachable than it, the write is kept here and fails
    const quorum = this.writeQuorum
    let confirmed = selfIsReplica ? 1 : 0
    const { promise: reached, resolve } = Promise.withResolvers<void>()
    if (confirmed >= quorum) resolve()
    // the caller may stop waiting before the quorum; once it is reached, the other sends go on by themselves
    const sending = new AbortController()
    const onAbort = (): void => { sending.abort() }
    signal?.addEventListener('abort', onAbort, { once: true })
    const sends = others.map(async peer => {
      try {
        const answer = await this.call(peer, async s => await s.put(held.bytes, { signal: sending.signal }), sending.signal)
        confirmed++
        this.init.storage.setNamePeer(key, peer.toString(), answer.hash)
        if (answer.record != null) {
          const theirs = await this.accept(answer.record, key)
          held = this.mergeLocal(theirs)
          this.init.storage.setNamePeer(key, peer.toString(), recordHash(answer.record))
        }
      } catch (err) {
        if (!sending.signal.aborted) this.log.warn('could not send a name write to a replica', { key, peer: peer.toString(), error: (err as Error).message })
      }
      if (confirmed >= quorum) resolve()
    })
    await Promise.race([reached, Promise.allSettled(sends)])
    signal?.removeEventListener('abort', onAbort)
    if (signal != null && signal.aborted) throw new AbortedError()
    if (confirmed < quorum) {
      throw new QuorumError(
        `Wrote "${key}" here, but only ${confirmed} of the ${quorum} confirmed copies it needs exist (${set.length} of k=${this.k} replicas reachable); it is kept on this node and will be re-synced`,
        { key, confirmed, quorum, replicaSet: set.length, kept: true })
    }
    const info = nameInfo(held.record, key)
    const outcome: WriteOutcome = {
      ...info,
      written: siblingInfo(result.written),
      replaced: result.replaced.length,
      replicas: { confirmed, quorum, replicaSet: set.length }
    }
    if (result.tooManySiblings) outcome.warning = `"${key}" has ${held.record.siblings.length} concurrent values: writers are not sending the context they read; resolve it`
    return outcome
  }

  // ---- reads ----

  /**
   * Reads `path` from R replicas, merges, repairs those behind, and returns
   * every sibling with the context. A name that does not exist comes back
   * with exists: false (tombstones, if any, among its siblings).
   */
  async get (path: string, options: { signal?: AbortSignal } = {}): Promise<GetResult> {
    const key = normaliseName(path)
    const { signal } = options
    const set = await this.init.membership.lookupReplicaSet(nameKey(key), this.k, { signal })
    const local = this.held(key)
    const selfIsReplica = set.some(p => p.toString() === this.selfId)
    const wanted = Math.min(this.readQuorum, set.length)
    const answers = new Map<string, { peer: PeerId, record?: NameRecord, hash?: Uint8Array }>()
    let answered = selfIsReplica ? 1 : 0
    const candidates = set.filter(p => p.toString() !== this.selfId)
    let next = 0
    let asked = answered
    const ask = async (): Promise<void> => {
      while (answered < wanted && next < candidates.length) {
        const peer = candidates[next++]
        asked++
        try {
          const bytes = await this.call(peer, async s => await s.get(key, { signal }), signal)
          const record = bytes == null ? undefined : await this.accept(bytes, key)
          answers.set(peer.toString(), { peer, record, hash: bytes == null ? undefined : recordHash(bytes) })
          if (bytes != null && local != null) this.init.storage.setNamePeer(key, peer.toString(), recordHash(bytes))
          answered++
        } catch (err) {
          if (signal?.aborted === true) throw new AbortedError()
          this.log.warn('could not read a name from a replica', { key, peer: peer.toString(), error: (err as Error).message })
        }
      }
    }
    await Promise.all(Array.from({ length: Math.max(0, wanted - answered) }, ask))
    if (answered === 0 && local == null) {
      throw new NameUnavailableError(key, `Cannot read name "${key}": none of the ${set.length} replicas asked answered`)
    }
    let merged = local?.record
    for (const a of answers.values()) if (a.record != null) merged = merged == null ? a.record : mergeRecords(merged, a.record)
    if (merged != null) {
      const bytes = encodeRecord(merged)
      const hash = recordHash(bytes)
      // this node's copy: kept fresh when it is a replica or already holds one
      if (selfIsReplica || local != null) {
        if (local == null || !equalBytes(local.hash, hash)) this.mergeLocal(merged)
      }
      // read repair
      const stale = [...answers.values()].filter(a => a.hash == null || !equalBytes(a.hash, hash))
      await Promise.allSettled(stale.map(async a => {
        try {
          const answer = await this.call(a.peer, async s => await s.put(bytes, { signal }), signal)
          if (this.init.storage.getName(key) != null) this.init.storage.setNamePeer(key, a.peer.toString(), answer.hash)
          this.log.debug('repaired a stale name replica', { key, peer: a.peer.toString() })
        } catch (err) {
          this.log.warn('could not repair a stale name replica', { key, peer: a.peer.toString(), error: (err as Error).message })
        }
      }))
    }
    return { ...nameInfo(merged, key), replicas: { asked, answered } }
  }

  /**
   * The names under `prefix` (default all) that have a live value, gathered
   * from this node and every connected storage peer (each peer's records
   * verified), merged per name, sorted; at most maxListNames.
   */
  async list (prefix = '/', options: { signal?: AbortSignal } = {}): Promise<NameInfo[]> {
    const normal = prefix === '/' || prefix === '' ? '/' : normaliseName(prefix)
    const max = this.init.maxListNames ?? 10_000
    const records = new Map<string, NameRecord>()
    const add = (record: NameRecord): void => {
      const have = records.get(record.key)
      if (have == null && records.size >= max) return
      records.set(record.key, have == null ? record : mergeRecords(have, record))
    }
    let after: string | undefined
    while (true) {
      const rows = this.init.storage.listNames({ prefix: normal, after, limit: 256 })
      for (const row of rows) add(decodeRecord(row.record))
      if (rows.length < 256 || records.size >= max) break
      after = rows[rows.length - 1].key
    }
    await Promise.all(this.init.membership.peers().map(async peer => {
      let cursor: string | undefined
      try {
        for (let pages = 0; pages < Math.ceil(max / this.limits.maxListRecords) + 1; pages++) {
          const page = await this.call(peer, async s => await s.list(normal, cursor, { signal: options.signal }), options.signal)
          for (const bytes of page.records) {
            const record = decodeRecord(bytes, { maxBytes: this.limits.maxRecordBytes })
            if (normal !== '/' && record.key !== normal && !record.key.startsWith(normal + '/')) throw new InvalidRecordError(`Asked for the names under "${normal}", got "${record.key}"`)
            if (cursor != null && compareBytes(utf8.encode(record.key), utf8.encode(cursor)) <= 0) throw new InvalidRecordError(`Names listed out of order: "${record.key}" after "${cursor}"`)
            await this.verifyNew(record, records.get(record.key))
            add(record)
            cursor = record.key
          }
          if (!page.more || page.records.length === 0) break
        }
      } catch (err) {
        if (options.signal?.aborted === true) throw new AbortedError()
        this.log.warn('could not list names on a peer', { peer: peer.toString(), error: (err as Error).message })
      }
    }))
    return [...records.keys()].sort().map(key => nameInfo(records.get(key), key)).filter(info => info.exists)
  }

  /** Names with more than one live value. */
  async conflicts (options: { signal?: AbortSignal } = {}): Promise<NameInfo[]> {
    return (await this.list('/', options)).filter(info => info.conflict)
  }

  /** Verifies the siblings of `record` that `known` does not hold (and the actor = owner rule). */
  private async verifyNew (record: NameRecord, known: NameRecord | undefined): Promise<void> {
    const have = new Set((known?.siblings ?? []).map(s => base64url.baseEncode(siblingBytes(s))))
    for (const s of record.siblings) {
      if (s.dot.actor !== s.value.owner) throw new InvalidRecordError(`Invalid name record "${record.key}": write (${s.dot.actor}, ${s.dot.counter}) is signed by "${s.value.owner}", not by its coordinator`)
      if (!have.has(base64url.baseEncode(siblingBytes(s)))) await verifySibling(record.key, s)
    }
  }

  // ---- re-sync ----

  private scheduleSync (peer: PeerId): void {
    if (!this.running) return
    const id = peer.toString()
    clearTimeout(this.joinTimers.get(id))
    const timer = setTimeout(() => {
      this.joinTimers.delete(id)
      void this.syncWith(peer).catch(err => {
        if (this.running) this.log.warn('name re-sync with a joining peer failed', { peer: id, error: (err as Error).message })
      })
    }, this.init.joinSyncDelayMs ?? 200)
    timer.unref?.()
    this.joinTimers.set(id, timer)
  }

  private async tick (): Promise<void> {
    try {
      const peers = this.init.membership.peers()
      if (peers.length > 0) await this.syncWith(peers[this.turn++ % peers.length])
      this.sweep()
    } catch (err) {
      if (this.running) this.log.warn('periodic name re-sync failed', { error: (err as Error).message })
    }
  }

  /**
   * One re-sync round with `peer` for the names held here whose replica set
   * includes it: a digest, then a PUT of each name that differs (whose answer
   * brings back what this node lacks). One round at a time per peer.
   */
  async syncWith (peer: PeerId, options: { signal?: AbortSignal } = {}): Promise<{ checked: number, sent: number, received: number }> {
    const id = peer.toString()
    const running = this.syncing.get(id)
    if (running != null) await running.catch(() => {})
    const round = this.syncRound(peer, options)
    this.syncing.set(id, round)
    try {
      return await round
    } finally {
      if (this.syncing.get(id) === round) this.syncing.delete(id)
    }
  }

  private async syncRound (peer: PeerId, options: { signal?: AbortSignal }): Promise<{ checked: number, sent: number, received: number }> {
    const { storage, membership } = this.init
    const id = peer.toString()
    const stats = { checked: 0, sent: 0, received: 0 }
    let after: string | undefined
    while (true) {
      const rows = storage.listNames({ after, limit: this.limits.maxSyncKeys })
      if (rows.length === 0) break
      after = rows[rows.length - 1].key
      const mine = rows.filter(row => membership.replicaSet(nameKey(row.key), this.k).some(p => p.toString() === id))
      if (mine.length > 0) {
        const theirs = await this.call(peer, async s => await s.sync(mine.map(r => [r.key, r.hash]), options), options.signal)
        stats.checked += mine.length
        await Promise.all(mine.map(async (row, i) => {
          const their = theirs[i]
          if (their != null && equalBytes(their, row.hash)) {
            storage.setNamePeer(row.key, id, row.hash)
            return
          }
          // send the current record (it may have changed since the digest)
          const current = storage.getName(row.key)
          if (current == null) return
          try {
            const answer = await this.call(peer, async s => await s.put(current.record, options), options.signal)
            stats.sent++
            storage.setNamePeer(row.key, id, answer.hash)
            if (answer.record != null) {
              const record = await this.accept(answer.record, row.key)
              if (this.mergeLocal(record).changed) stats.received++
              storage.setNamePeer(row.key, id, recordHash(answer.record))
            }
          } catch (err) {
            if (options.signal?.aborted === true) throw err
            if (this.running) this.log.warn('could not re-sync a name with a peer', { key: row.key, peer: id, error: (err as Error).message })
          }
        }))
      }
      if (rows.length < this.limits.maxSyncKeys) break
    }
    if (stats.sent > 0 || stats.received > 0) this.log.info('re-synced names with a peer', { peer: id, ...stats })
    return stats
  }

  /**
   * Drops what this node need not keep: a record of tombstones only that
   * every replica and known holder has been seen holding, once the grace
   * period has passed; and a record of a name this node is not a replica of
   * once every member of its replica set has been seen holding it (its
   * coordinator counter stays). Returns the names dropped.
   */
  sweep (): { collected: string[], handedOff: string[] } {
    const { storage, membership } = this.init
    const out = { collected: [] as string[], handedOff: [] as string[] }
    const graceMs = this.init.tombstoneGraceMs ?? 24 * 60 * 60 * 1000
    const now = this.now()
    let after: string | undefined
    while (true) {
      const rows = storage.listNames({ after, limit: 256 })
      if (rows.length === 0) break
      after = rows[rows.length - 1].key
      for (const row of rows) {
        const set = membership.replicaSet(nameKey(row.key), this.k).map(p => p.toString())
        const peers = storage.namePeers(row.key)
        const seenBy = new Set([this.selfId, ...peers.filter(p => equalBytes(p.hash, row.hash)).map(p => p.peer)])
        if (!row.live) {
          const holders = [...new Set([...set, ...peers.map(p => p.peer)])]
          if (canCollectTombstone(decodeRecord(row.record), { seenBy, replicaSet: holders, now, graceMs, since: row.deadSince ?? row.updated })) {
            storage.deleteName(row.key, { record: row.record, hash: row.hash, at: now })
            out.collected.push(row.key)
            this.log.info('collected a deleted name: every replica has its tombstone', { key: row.key })
            continue
          }
        }
        if (!set.includes(this.selfId) && set.every(p => seenBy.has(p))) {
          storage.deleteName(row.key)
          out.handedOff.push(row.key)
          this.log.debug('handed a name off to its replicas', { key: row.key })
        }
      }
      if (rows.length < 256) break
    }
    // collected records are kept one more grace period, so that peers still holding them collect too
    storage.purgeNameGraves(now - graceMs)
    return out
  }
}
