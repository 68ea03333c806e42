/**
 * The names module's own tables, in the node's metadata database (the store
 * keeps the connection; the names schema is this module's, with its own
 * migrations): one row per name this node holds (its record as canonical
 * CBOR, and the record's sha2-256, what re-sync digests compare), which
 * peers were last known to hold which version of it, this node's highest
 * coordinator counter per name, and the records of deleted names it
 * collected, kept aside one more grace period.
 */
import type { Metadata, Migration } from '../store/metadata.ts'

const SCHEMA_V1 = `
CREATE TABLE IF NOT EXISTS names (
  key TEXT PRIMARY KEY, -- normalised name
  record BLOB NOT NULL, -- canonical CBOR of the name record
  hash BLOB NOT NULL, -- sha2-256 of record
  live INTEGER NOT NULL, -- 1 when a sibling is not a tombstone
  updated INTEGER NOT NULL, -- ms since the epoch (this node's clock): last change here
  dead_since INTEGER -- ms since the epoch (this node's clock): since when every sibling is a tombstone
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS name_peers (
  key TEXT NOT NULL, -- a name this node holds
  peer TEXT NOT NULL, -- a peer known to hold a record of it
  hash BLOB NOT NULL, -- the hash of the record that peer was last known to hold
  at INTEGER NOT NULL, -- ms since the epoch
  PRIMARY KEY (key, peer)
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS name_counters (
  key TEXT PRIMARY KEY, -- a name this node coordinated a write of
  counter INTEGER NOT NULL -- the highest dot counter it used for it (kept when the record goes)
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS name_graves (
  key TEXT PRIMARY KEY, -- a deleted name whose tombstones this node collected
  record BLOB NOT NULL, -- the collected record (tombstones only)
  hash BLOB NOT NULL, -- its sha2-256
  at INTEGER NOT NULL -- ms since the epoch (this node's clock): when it was collected
) STRICT, WITHOUT ROWID;
`

export const NAME_MIGRATIONS: readonly Migration[] = [{
  version: 1,
  // IF NOT EXISTS: databases from before the module split have these tables from the store's schema 2
  description: 'name records, which peers hold which version of them, coordinator counters, collected records',
  up (db) { db.exec(SCHEMA_V1) }
}]

export interface NameRow {
  key: string
  record: Uint8Array
  hash: Uint8Array
  live: boolean
  updated: number
  /** Since when (this node's clock) the record holds tombstones only. */
  deadSince?: number
}

type Row = Record<string, unknown>

export class NameStore {
  private readonly meta: Metadata
  private readonly now: () => number

  private constructor (meta: Metadata, now: () => number) {
    this.meta = meta
    this.now = now
  }

  /** The names tables of `meta`, migrated to this module's last version. */
  static open (meta: Metadata, options: { now?(): number } = {}): NameStore {
    meta.migrateModule('names', NAME_MIGRATIONS)
    return new NameStore(meta, options.now ?? Date.now)
  }

  getName (key: string): NameRow | undefined {
    const row = this.meta.statement('SELECT * FROM names WHERE key = ?').get(key)
    return row == null ? undefined : toNameRow(row)
  }

  /**
   * Stores a name's record, durably (synchronous=FULL: it is acknowledged to
   * the writer right after); `counter`, when given, raises this node's
   * coordinator counter for the key in the same transaction. `at`: the
   * time of the change (default this store's clock).
   */
  putName (row: { key: string, record: Uint8Array, hash: Uint8Array, live: boolean, at?: number }, counter?: number): void {
    const now = row.at ?? this.now()
    this.meta.transaction(() => {
      this.meta.statement(`INSERT INTO names (key, record, hash, live, updated, dead_since) VALUES (?1, ?2, ?3, ?4, ?5, CASE WHEN ?4 = 1 THEN NULL ELSE ?5 END)
        ON CONFLICT (key) DO UPDATE SET record = excluded.record, hash = excluded.hash, live = excluded.live, updated = excluded.updated,
          dead_since = CASE WHEN excluded.live = 1 THEN NULL ELSE coalesce(names.dead_since, excluded.dead_since) END`)
        .run(row.key, row.record, row.hash, row.live ? 1 : 0, now)
      this.meta.statement('DELETE FROM name_graves WHERE key = ?').run(row.key)
      if (counter != null) {
        this.meta.statement(`INSERT INTO name_counters (key, counter) VALUES (?1, ?2)
          ON CONFLICT (key) DO UPDATE SET counter = max(counter, excluded.counter)`).run(row.key, counter)
      }
    }, true)
  }

  /**
   * Drops a name's record and what is known of its holders (its coordinator
   * counter stays); false when absent. With `grave`, the collected record is
   * kept aside (name_graves) until purgeNameGraves.
   */
  deleteName (key: string, grave?: { record: Uint8Array, hash: Uint8Array, at?: number }): boolean {
    return this.meta.transaction(() => {
      this.meta.statement('DELETE FROM name_peers WHERE key = ?').run(key)
      if (grave != null) {
        this.meta.statement('INSERT OR REPLACE INTO name_graves (key, record, hash, at) VALUES (?, ?, ?, ?)').run(key, grave.record, grave.hash, grave.at ?? this.now())
      }
      return Number(this.meta.statement('DELETE FROM names WHERE key = ?').run(key).changes) === 1
    }, true)
  }

  /** The collected record of a deleted name, while it is kept. */
  getNameGrave (key: string): { record: Uint8Array, hash: Uint8Array, at: number } | undefined {
    const row = this.meta.statement('SELECT record, hash, at FROM name_graves WHERE key = ?').get(key) as { record: Uint8Array, hash: Uint8Array, at: number } | undefined
    return row == null ? undefined : { record: row.record, hash: row.hash, at: Number(row.at) }
  }

  /** Forgets the collected records of names collected before `before` (ms); how many. */
  purgeNameGraves (before: number): number {
    return this.meta.transaction(() => Number(this.meta.statement('DELETE FROM name_graves WHERE at < ?').run(before).changes))
  }

  /**
   * Names in key order (SQLite's binary order of UTF-8), after `after`: all,
   * or `prefix` itself and the names under `prefix/`.
   */
  listNames (options: { prefix?: string, after?: string, limit?: number } = {}): NameRow[] {
    const limit = options.limit ?? -1
    const after = options.after ?? ''
    const prefix = options.prefix == null || options.prefix === '/' ? undefined : options.prefix
    const rows = prefix == null
      ? this.meta.statement('SELECT * FROM names WHERE key > ? ORDER BY key LIMIT ?').all(after, limit)
      // "/a" and "/a/..." ("0" is the character after "/")
      : this.meta.statement('SELECT * FROM names WHERE key > ?1 AND (key = ?2 OR (key >= ?2 || \'/\' AND key < ?2 || \'0\')) ORDER BY key LIMIT ?3').all(after, prefix, limit)
    return rows.map(toNameRow)
  }

  countNames (): number {
    return Number((this.meta.statement('SELECT count(*) AS n FROM names').get() as { n: number }).n)
  }

  /** The highest dot counter this node used as the coordinator of `key` (0: none). */
  nameCounter (key: string): number {
    return Number((this.meta.statement('SELECT counter FROM name_counters WHERE key = ?').get(key) as { counter: number } | undefined)?.counter ?? 0)
  }

  /** Remembers that `peer` holds the version `hash` of `key`. */
  setNamePeer (key: string, peer: string, hash: Uint8Array): void {
    this.meta.statement(`INSERT INTO name_peers (key, peer, hash, at) VALUES (?, ?, ?, ?)
      ON CONFLICT (key, peer) DO UPDATE SET hash = excluded.hash, at = excluded.at`).run(key, peer, hash, this.now())
  }

  /** The peers known to hold a record of `key`, with the version each was last known to hold. */
  namePeers (key: string): Array<{ peer: string, hash: Uint8Array }> {
    return (this.meta.statement('SELECT peer, hash FROM name_peers WHERE key = ? ORDER BY peer').all(key) as Array<{ peer: string, hash: Uint8Array }>)
      .map(r => ({ peer: r.peer, hash: r.hash }))
  }
}

function toNameRow (row: Row): NameRow {
  const out: NameRow = { key: row.key as string, record: row.record as Uint8Array, hash: row.hash as Uint8Array, live: row.live === 1, updated: Number(row.updated) }
  if (row.dead_since != null) out.deadSince = Number(row.dead_since)
  return out
}
