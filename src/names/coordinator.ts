/**
 * The name operations a user asks of any node, the coordinator: writes
 * (put, remove, resolve) and reads (get, list, conflicts).
 *
 * - The coordinator is the write's actor and signer, and it keeps the key's
 *   record durably itself, replica or not, and applies its write to it
 *   before sending it anywhere (merge.ts's contract: its counters never
 *   repeat). A coordinator that is not a replica hands the record off later
 *   (gc.ts) and keeps only its highest counter for the key. Forwarding to
 *   the nearest replica instead would make that replica the owner and signer
 *   of a write the user made elsewhere, and add a hop on which a write can
 *   be lost.
 * - The new record goes to every other replica; the write is acknowledged
 *   at the write quorum W (the node's ReplicationPolicy, never lowered to
 *   what is reachable), counting this node when it is a replica. Below
 *   quorum it fails with QuorumError, and the record stays here (and on
 *   whoever took it) and is re-synced.
 * - Reads ask R replicas (this node answers for itself when it is one),
 *   trying the next replica when one fails, merge what they hold, repair the
 *   replicas (and this node's copy) that are behind, and return the view.
 */
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { compare as compareBytes } from 'uint8arrays/compare'
import { equals as equalBytes } from 'uint8arrays/equals'
import { parseCid } from '../content/blocks.ts'
import { AbortedError, InvalidArgumentError, InvalidRecordError, NameNotFoundError, NameUnavailableError, QuorumError } from '../errors.ts'
import type { Logger } from '../platform/logger.ts'
import { recordHash } from '../protocols/name-sync.ts'
import type { NameSession, NameSyncLimits } from '../protocols/name-sync.ts'
import type { ReplicationPolicy } from '../replication/policy.ts'
import { mergeRecords, writeRecord } from './merge.ts'
import type { NameValueInput, WriteResult } from './merge.ts'
import { isUnder, nameKey, normaliseName } from './path.ts'
import { decodeContext, decodeRecord, encodeRecord } from './record.ts'
import type { NameRecord } from './record.ts'
import type { NameOwners } from './owners.ts'
import type { NameReplica } from './replica.ts'
import type { NameMembership } from './service.ts'
import type { NameStore } from './storage.ts'
import { nameInfo, siblingInfo } from './view.ts'
import type { GetResult, NameInfo, PutInput, WriteOutcome } from './view.ts'

export interface NameCoordinatorInit {
  selfId: string
  /** who may write which names: a write this node may not make fails before anything is sent */
  owners: NameOwners
  /** this node's key: it signs the writes it coordinates */
  privateKey: PrivateKey
  policy: Pick<ReplicationPolicy, 'k' | 'writeQuorum' | 'readQuorum'>
  membership: NameMembership
  storage: NameStore
  replica: NameReplica
  /** runs `fn` on a session to `peer` (a stream that had ended is replaced once) */
  call<T>(peer: PeerId, fn: (s: NameSession) => Promise<T>, signal?: AbortSignal): Promise<T>
  /** size and mode of a CID, for writes that do not give them (the node's files.stat) */
  statCid?(cid: string, options: { signal?: AbortSignal }): Promise<{ size: number, mode?: number }>
  limits: NameSyncLimits
  /** most names `list` gathers */
  maxListNames: number
  /** wall clock, ms: values' mtime */
  now(): number
  logger: Logger
}

const utf8 = new TextEncoder()

export class NameCoordinator {
  private readonly init: NameCoordinatorInit
  private readonly locks = new Map<string, Promise<void>>()

  constructor (init: NameCoordinatorInit) {
    this.init = init
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
    this.init.owners.check(key, this.init.selfId)
    const context = contextToken == null ? undefined : decodeContext(contextToken)
    const keyBytes = nameKey(key)
    const set = await this.init.membership.lookupReplicaSet(keyBytes, this.init.policy.k, { signal })
    if (signal?.aborted === true) throw new AbortedError()
    // the actor keeps the record: sign and apply locally under the key's lock, durably
    let result!: WriteResult
    let held = await this.withLock(key, async () => {
      const current = this.init.replica.held(key)
      result = await writeRecord(current?.record, {
        key,
        value,
        context,
        actor: this.init.selfId,
        privateKey: this.init.privateKey,
        now: this.init.now(),
        minCounter: this.init.storage.nameCounter(key)
      })
      return this.init.replica.mergeLocal(result.record, result.written.dot.counter)
    })
    const selfIsReplica = set.some(p => p.toString() === this.init.selfId)
    const others = set.filter(p => p.toString() !== this.init.selfId)
    // the quorum is a promise: with fewer replicas reachable than it, the write is kept here and fails
    const quorum = this.init.policy.writeQuorum
    let confirmed = selfIsReplica ? 1 : 0
    const { promise: reached, resolve } = Promise.withResolvers<void>()
    if (confirmed >= quorum) resolve()
    // the caller may stop waiting before the quorum; once it is reached, the other sends go on by themselves
    const sending = new AbortController()
    const onAbort = (): void => { sending.abort() }
    signal?.addEventListener('abort', onAbort, { once: true })
    const sends = others.map(async peer => {
      try {
        const answer = await this.init.call(peer, async s => await s.put(held.bytes, { signal: sending.signal }), sending.signal)
        confirmed++
        this.init.storage.setNamePeer(key, peer.toString(), answer.hash)
        if (answer.record != null) {
          const theirs = await this.init.replica.accept(answer.record, { expectKey: key, known: held.record })
          held = this.init.replica.mergeLocal(theirs)
          this.init.storage.setNamePeer(key, peer.toString(), recordHash(answer.record))
        }
      } catch (err) {
        if (!sending.signal.aborted) this.init.logger.warn('could not send a name write to a replica', { key, peer: peer.toString(), error: (err as Error).message })
      }
      if (confirmed >= quorum) resolve()
    })
    await Promise.race([reached, Promise.allSettled(sends)])
    signal?.removeEventListener('abort', onAbort)
    if (signal != null && signal.aborted) throw new AbortedError()
    if (confirmed < quorum) {
      throw new QuorumError(
        `Wrote "${key}" here, but only ${confirmed} of the ${quorum} confirmed copies it needs exist (${set.length} of k=${this.init.policy.k} replicas reachable); it is kept on this node and will be re-synced`,
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
    const set = await this.init.membership.lookupReplicaSet(nameKey(key), this.init.policy.k, { signal })
    const local = this.init.replica.held(key)
    const selfIsReplica = set.some(p => p.toString() === this.init.selfId)
    const wanted = Math.min(this.init.policy.readQuorum, set.length)
    const answers = new Map<string, { peer: PeerId, record?: NameRecord, hash?: Uint8Array }>()
    let answered = selfIsReplica ? 1 : 0
    const candidates = set.filter(p => p.toString() !== this.init.selfId)
    let next = 0
    let asked = answered
    const ask = async (): Promise<void> => {
      while (answered < wanted && next < candidates.length) {
        const peer = candidates[next++]
        asked++
        try {
          const bytes = await this.init.call(peer, async s => await s.get(key, { signal }), signal)
          const record = bytes == null ? undefined : await this.init.replica.accept(bytes, { expectKey: key, known: local?.record ?? null })
          answers.set(peer.toString(), { peer, record, hash: bytes == null ? undefined : recordHash(bytes) })
          if (bytes != null && local != null) this.init.storage.setNamePeer(key, peer.toString(), recordHash(bytes))
          answered++
        } catch (err) {
          if (signal?.aborted === true) throw new AbortedError()
          this.init.logger.warn('could not read a name from a replica', { key, peer: peer.toString(), error: (err as Error).message })
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
        if (local == null || !equalBytes(local.hash, hash)) this.init.replica.mergeLocal(merged)
      }
      // read repair
      const stale = [...answers.values()].filter(a => a.hash == null || !equalBytes(a.hash, hash))
      await Promise.allSettled(stale.map(async a => {
        try {
          const answer = await this.init.call(a.peer, async s => await s.put(bytes, { signal }), signal)
          if (this.init.storage.getName(key) != null) this.init.storage.setNamePeer(key, a.peer.toString(), answer.hash)
          this.init.logger.debug('repaired a stale name replica', { key, peer: a.peer.toString() })
        } catch (err) {
          this.init.logger.warn('could not repair a stale name replica', { key, peer: a.peer.toString(), error: (err as Error).message })
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
    const max = this.init.maxListNames
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
        for (let pages = 0; pages < Math.ceil(max / this.init.limits.maxListRecords) + 1; pages++) {
          const page = await this.init.call(peer, async s => await s.list(normal, cursor, { signal: options.signal }), options.signal)
          for (const bytes of page.records) {
            const record = decodeRecord(bytes, { maxBytes: this.init.limits.maxRecordBytes })
            if (!isUnder(record.key, normal)) throw new InvalidRecordError(`Asked for the names under "${normal}", got "${record.key}"`)
            if (cursor != null && compareBytes(utf8.encode(record.key), utf8.encode(cursor)) <= 0) throw new InvalidRecordError(`Names listed out of order: "${record.key}" after "${cursor}"`)
            await this.init.replica.verify(record, records.get(record.key))
            add(record)
            cursor = record.key
          }
          if (!page.more || page.records.length === 0) break
        }
      } catch (err) {
        if (options.signal?.aborted === true) throw new AbortedError()
        this.init.logger.warn('could not list names on a peer', { peer: peer.toString(), error: (err as Error).message })
      }
    }))
    return [...records.keys()].sort().map(key => nameInfo(records.get(key), key)).filter(info => info.exists)
  }

  /** Names with more than one live value. */
  async conflicts (options: { signal?: AbortSignal } = {}): Promise<NameInfo[]> {
    return (await this.list('/', options)).filter(info => info.conflict)
  }
}
