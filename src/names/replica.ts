/**
 * This node as a replica of names: the records it holds, the merge of what
 * comes in (durable, and synchronous from read to write, so concurrent
 * merges never lose one another), and one check for every record from the
 * network: decoded, each write's dot its signer's (actor = owner), and the
 * siblings not already held signature-checked and allowed (owners.ts). It is also the store the
 * /shoal/names/1.0.0 handler serves from.
 */
import { base64url } from 'multiformats/bases/base64'
import { equals as equalBytes } from 'uint8arrays/equals'
import { InvalidRecordError } from '../errors.ts'
import { Listeners } from '../platform/listeners.ts'
import type { Logger } from '../platform/logger.ts'
import { recordHash } from '../protocols/name-sync.ts'
import type { NameSyncLimits, NameSyncStore } from '../protocols/name-sync.ts'
import { mergeRecords } from './merge.ts'
import { normaliseName } from './path.ts'
import { decodeRecord, encodeRecord, isTombstone, siblingBytes, verifySibling } from './record.ts'
import type { NameRecord } from './record.ts'
import type { NameOwners } from './owners.ts'
import type { NameStore } from './storage.ts'

/** A record this node holds, with its canonical bytes and their hash. */
export interface Held {
  record: NameRecord
  bytes: Uint8Array
  hash: Uint8Array
}

export interface NameReplicaInit {
  storage: NameStore
  /** who may write which names (checked for every new sibling) */
  owners: NameOwners
  limits: NameSyncLimits
  /** this node's clock, ms (when a record changed here) */
  now(): number
  logger: Logger
}

export class NameReplica {
  private readonly init: NameReplicaInit
  private readonly listeners: Listeners<NameRecord>

  constructor (init: NameReplicaInit) {
    this.init = init
    this.listeners = new Listeners('name change', init.logger)
  }

  held (key: string): Held | undefined {
    const row = this.init.storage.getName(key)
    if (row == null) return undefined
    return { record: decodeRecord(row.record), bytes: row.record, hash: row.hash }
  }

  /**
   * Stores merge(local, record) durably and returns what is held now;
   * `counter` raises this node's coordinator counter in the same write.
   */
  mergeLocal (record: NameRecord, counter?: number): Held & { changed: boolean } {
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
      storage.putName({ key: merged.key, record: bytes, hash, live: merged.siblings.some(s => !isTombstone(s.value)), at: this.init.now() }, counter)
    }
    if (changed) this.listeners.emit(merged)
    return { record: merged, bytes, hash, changed }
  }

  /** Called with the record held now, each time a held record changes (after it is stored). */
  onChange (listener: (record: NameRecord) => void): () => void {
    return this.listeners.add(listener)
  }

  /**
   * Decodes a record from the network and checks it (see `verify`) against
   * `known` (default: the record held here). Throws InvalidRecordError or
   * InvalidSignatureError.
   */
  async accept (bytes: Uint8Array, options: { expectKey?: string, known?: NameRecord | null } = {}): Promise<NameRecord> {
    const record = decodeRecord(bytes, { maxBytes: this.init.limits.maxRecordBytes })
    if (options.expectKey != null && record.key !== options.expectKey) throw new InvalidRecordError(`Invalid name record: asked for "${options.expectKey}", got "${record.key}"`)
    await this.verify(record, options.known === undefined ? this.held(record.key)?.record : options.known ?? undefined)
    return record
  }

  /**
   * Every write's dot must be its signer's; the siblings `known` does not
   * hold must carry a valid signature, by a node that may write the name.
   */
  async verify (record: NameRecord, known: NameRecord | undefined): Promise<void> {
    const have = new Set((known?.siblings ?? []).map(s => base64url.baseEncode(siblingBytes(s))))
    for (const s of record.siblings) {
      if (s.dot.actor !== s.value.owner) {
        throw new InvalidRecordError(`Invalid name record "${record.key}": write (${s.dot.actor}, ${s.dot.counter}) is signed by "${s.value.owner}", not by its coordinator`)
      }
      if (have.has(base64url.baseEncode(siblingBytes(s)))) continue
      this.init.owners.check(record.key, s.value.owner)
      await verifySibling(record.key, s)
    }
  }

  /** What the /shoal/names/1.0.0 handler serves from. */
  protocolStore (): NameSyncStore {
    const { storage } = this.init
    return {
      put: async (bytes, { from }) => {
        const record = await this.accept(bytes)
        const held = this.mergeLocal(record)
        // (a collected name stays collected: no bookkeeping for it)
        if (storage.getName(record.key) != null) storage.setNamePeer(record.key, from.toString(), recordHash(bytes))
        if (held.changed) this.init.logger.debug('name record merged from peer', { key: record.key, peer: from.toString() })
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
}
