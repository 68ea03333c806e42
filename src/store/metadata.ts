/**
 * The node's metadata in SQLite (node:sqlite, in Node 24 and Deno 2): pins
 * and the blocks each pin covers, the blocks held for the network, an index
 * of the stored blocks, and counters.
 *
 * Schema versions: `PRAGMA user_version` is the version of the schema; the
 * ordered MIGRATIONS list takes a database from one version to the next, each
 * step in its own transaction together with the version bump. Opening a
 * database whose version is newer than the last migration fails with
 * RepoError instead of guessing. Any schema change is a new migration: the
 * golden test compares a fresh database to test/fixtures/store/schema-v<N>.sql.
 *
 * Durability: WAL with synchronous=NORMAL, and synchronous=FULL for the
 * commits whose loss would let GC remove data a user asked to keep (pins,
 * unpins, held blocks) and for migrations. NORMAL commits (the block index,
 * written once per stored block) survive a process crash; a power loss may
 * drop the last ones, never corrupt the file. The block index is a cache of
 * what the blockstore holds and is rebuilt from it after an unclean
 * shutdown (see ContentStore), so losing its tail is harmless, while FULL on
 * every index row would cost one WAL fsync per block.
 *
 * Blocks are keyed by multihash (bytes), like the blockstore: a CIDv0 and a
 * CIDv1 of the same multihash are one block. Pins are keyed by their root
 * CID in v1 form, so pinning a v0 CID and its v1 form is one pin.
 */
import { DatabaseSync } from 'node:sqlite'
import type { StatementSync } from 'node:sqlite'
import { RepoError } from '../errors.ts'

export interface Migration {
  /** 1, 2, 3... in order, no gaps. */
  version: number
  description: string
  /** Runs inside the migration's transaction. */
  up(db: DatabaseSync): void
}

const SCHEMA_V1 = `
CREATE TABLE pins (
  root TEXT PRIMARY KEY, -- root CID, v1 form
  mode TEXT NOT NULL CHECK (mode IN ('recursive', 'direct')),
  name TEXT,
  created INTEGER NOT NULL, -- ms since the epoch
  blocks INTEGER NOT NULL, -- distinct blocks covered
  bytes INTEGER NOT NULL -- their total size
) STRICT;

CREATE TABLE pin_blocks (
  root TEXT NOT NULL REFERENCES pins (root) ON DELETE CASCADE,
  mh BLOB NOT NULL, -- multihash of a covered block
  PRIMARY KEY (root, mh)
) STRICT, WITHOUT ROWID;

CREATE INDEX pin_blocks_by_mh ON pin_blocks (mh);

CREATE TABLE held (
  mh BLOB PRIMARY KEY, -- multihash of a block this node holds for the network
  cid TEXT NOT NULL,
  since INTEGER NOT NULL, -- ms since the epoch
  replicas TEXT -- replica-set information (JSON), owned by replication/
) STRICT, WITHOUT ROWID;

CREATE TABLE blocks (
  mh BLOB PRIMARY KEY, -- multihash of a stored block
  size INTEGER NOT NULL,
  added INTEGER NOT NULL -- ms since the epoch
) STRICT, WITHOUT ROWID;

CREATE TABLE stats (
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TRIGGER blocks_counted_in AFTER INSERT ON blocks BEGIN
  UPDATE stats SET value = value + 1 WHERE key = 'blocks';
  UPDATE stats SET value = value + NEW.size WHERE key = 'bytes';
END;

CREATE TRIGGER blocks_counted_out AFTER DELETE ON blocks BEGIN
  UPDATE stats SET value = value - 1 WHERE key = 'blocks';
  UPDATE stats SET value = value - OLD.size WHERE key = 'bytes';
END;
`

// names (src/names/): one row per name this node holds; the record is its
// canonical CBOR, the hash its sha2-256 (what re-sync digests compare)
const SCHEMA_V2_NAMES = `
CREATE TABLE names (
  key TEXT PRIMARY KEY, -- normalised name
  record BLOB NOT NULL, -- canonical CBOR of the name record
  hash BLOB NOT NULL, -- sha2-256 of record
  live INTEGER NOT NULL, -- 1 when a sibling is not a tombstone
  updated INTEGER NOT NULL, -- ms since the epoch (this node's clock): last change here
  dead_since INTEGER -- ms since the epoch (this node's clock): since when every sibling is a tombstone
) STRICT, WITHOUT ROWID;

CREATE TABLE name_peers (
  key TEXT NOT NULL, -- a name this node holds
  peer TEXT NOT NULL, -- a peer known to hold a record of it
  hash BLOB NOT NULL, -- the hash of the record that peer was last known to hold
  at INTEGER NOT NULL, -- ms since the epoch
  PRIMARY KEY (key, peer)
) STRICT, WITHOUT ROWID;

CREATE TABLE name_counters (
  key TEXT PRIMARY KEY, -- a name this node coordinated a write of
  counter INTEGER NOT NULL -- the highest dot counter it used for it (kept when the record goes)
) STRICT, WITHOUT ROWID;

CREATE TABLE name_graves (
  key TEXT PRIMARY KEY, -- a deleted name whose tombstones this node collected
  record BLOB NOT NULL, -- the collected record (tombstones only)
  hash BLOB NOT NULL, -- its sha2-256
  at INTEGER NOT NULL -- ms since the epoch (this node's clock): when it was collected
) STRICT, WITHOUT ROWID;
`

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'pins, pin coverage, held blocks, block index, stats',
    up (db) {
      db.exec(SCHEMA_V1)
      db.exec(`INSERT INTO stats (key, value) VALUES
        ('blocks', 0), ('bytes', 0), ('open', 0),
        ('gc_runs', 0), ('gc_removed_blocks', 0), ('gc_freed_bytes', 0), ('gc_last', 0)`)
    }
  },
  {
    version: 2,
    description: 'name records, which peers hold which version of them, coordinator counters',
    up (db) {
      db.exec(SCHEMA_V2_NAMES)
    }
  }
]

export function schemaVersion (db: DatabaseSync): number {
  return Number((db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version)
}

/**
 * Brings `db` to the last version of `migrations` (or `target`), one
 * transaction per step. Returns the version reached.
 */
export function migrate (db: DatabaseSync, migrations: readonly Migration[] = MIGRATIONS, options: { file?: string, target?: number } = {}): number {
  const file = options.file ?? 'the metadata database'
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`Migration list is malformed: entry ${i} has version ${m.version}, expected ${i + 1}`)
  })
  const latest = migrations.length
  const target = options.target ?? latest
  const current = schemaVersion(db)
  if (current > latest) {
    throw new RepoError(`Cannot open ${file}: its schema is version ${current}, newer than this shoal knows (version ${latest}); it was written by a newer shoal`)
  }
  for (const m of migrations) {
    if (m.version <= current || m.version > target) continue
    db.exec('PRAGMA synchronous = FULL')
    db.exec('BEGIN IMMEDIATE')
    try {
      m.up(db)
      db.exec(`PRAGMA user_version = ${m.version}`)
      db.exec('COMMIT')
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK')
      throw new RepoError(`Cannot migrate ${file} to schema version ${m.version} (${m.description}): ${(err as Error).message}`, { cause: err })
    } finally {
      db.exec('PRAGMA synchronous = NORMAL')
    }
  }
  return schemaVersion(db)
}

/** The schema as SQL text, one statement per entry, in a stable order (the golden test compares it). */
export function dumpSchema (db: DatabaseSync): string {
  const rows = db.prepare(`SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'
    ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 WHEN 'trigger' THEN 2 ELSE 3 END, name`).all() as Array<{ sql: string }>
  return rows.map(r => r.sql + ';\n').join('\n')
}

export type PinMode = 'recursive' | 'direct'

export interface PinRow {
  /** Root CID in v1 form. */
  root: string
  mode: PinMode
  name?: string
  created: number
  blocks: number
  bytes: number
}

export interface HeldRow {
  mh: Uint8Array
  cid: string
  since: number
  replicas?: string
}

export interface MetadataInit {
  migrations?: readonly Migration[]
  /** Clock for `created`/`since`/`added` (ms). */
  now?(): number
}

type Row = Record<string, unknown>

export class Metadata {
  readonly file: string
  /** The database had no schema before this open (new, or emptied). */
  readonly fresh: boolean
  readonly #db: DatabaseSync
  /** prepared once per SQL text: preparing per call cost native memory and time on every block */
  readonly #statements = new Map<string, StatementSync>()
  readonly #now: () => number
  #walkSeq = 0

  private constructor (file: string, db: DatabaseSync, now: () => number, fresh: boolean) {
    this.file = file
    this.fresh = fresh
    this.#db = db
    this.#now = now
  }

  /** Opens (creating if needed) and migrates the database at `file` (':memory:' for tests). */
  static open (file: string, init: MetadataInit = {}): Metadata {
    let db: DatabaseSync
    let fresh = false
    try {
      db = new DatabaseSync(file, { timeout: 5000 })
    } catch (err) {
      throw new RepoError(`Cannot open the metadata database ${file}: ${(err as Error).message}`, { cause: err })
    }
    try {
      db.exec('PRAGMA journal_mode = WAL')
      db.exec('PRAGMA synchronous = NORMAL')
      db.exec('PRAGMA foreign_keys = ON')
      fresh = schemaVersion(db) === 0
      migrate(db, init.migrations ?? MIGRATIONS, { file })
      db.exec(`CREATE TEMP TABLE walk (
        walk INTEGER NOT NULL, mh BLOB NOT NULL, size INTEGER NOT NULL, PRIMARY KEY (walk, mh)
      ) WITHOUT ROWID`)
    } catch (err) {
      db.close()
      throw err
    }
    return new Metadata(file, db, init.now ?? Date.now, fresh)
  }

  close (): void {
    if (this.#db.isOpen) this.#db.close()
  }

  get version (): number {
    return schemaVersion(this.#db)
  }

  /** The raw connection, for tests and migrations. */
  get db (): DatabaseSync {
    return this.#db
  }

  #prepare (sql: string): StatementSync {
    let statement = this.#statements.get(sql)
    if (statement == null) {
      statement = this.#db.prepare(sql)
      this.#statements.set(sql, statement)
    }
    return statement
  }

  #tx<T> (fn: () => T, durable = false): T {
    if (durable) this.#db.exec('PRAGMA synchronous = FULL')
    this.#db.exec('BEGIN IMMEDIATE')
    try {
      const result = fn()
      this.#db.exec('COMMIT')
      return result
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK')
      throw err
    } finally {
      if (durable) this.#db.exec('PRAGMA synchronous = NORMAL')
    }
  }

  // ---- block index ----

  /** Records stored blocks (already present ones are left alone), in one transaction. */
  addBlocks (blocks: Iterable<{ mh: Uint8Array, size: number }>): void {
    const insert = this.#prepare('INSERT OR IGNORE INTO blocks (mh, size, added) VALUES (?, ?, ?)')
    const now = this.#now()
    this.#tx(() => {
      for (const { mh, size } of blocks) insert.run(mh, size, now)
    })
  }

  removeBlocks (mhs: Iterable<Uint8Array>): void {
    const del = this.#prepare('DELETE FROM blocks WHERE mh = ?')
    this.#tx(() => {
      for (const mh of mhs) del.run(mh)
    })
  }

  hasBlock (mh: Uint8Array): boolean {
    return this.#prepare('SELECT 1 FROM blocks WHERE mh = ?').get(mh) != null
  }

  /**
   * Rebuilding the block index from the blockstore (after an unclean
   * shutdown): `beginIndexRebuild`, then `seeBlocks` with batches of what the
   * blockstore lists, then `finishIndexRebuild`, which makes the index exactly
   * the blocks seen and says what changed. Memory stays flat: the blocks seen
   * go to a temp table.
   */
  beginIndexRebuild (): void {
    this.#db.exec('CREATE TEMP TABLE IF NOT EXISTS seen (mh BLOB PRIMARY KEY, size INTEGER NOT NULL) WITHOUT ROWID')
    this.#db.exec('DELETE FROM temp.seen')
  }

  seeBlocks (blocks: Iterable<{ mh: Uint8Array, size: number }>): void {
    const see = this.#prepare('INSERT OR REPLACE INTO temp.seen (mh, size) VALUES (?, ?)')
    this.#tx(() => {
      for (const { mh, size } of blocks) see.run(mh, size)
    })
  }

  finishIndexRebuild (): { added: number, removed: number } {
    const db = this.#db
    const now = this.#now()
    return this.#tx(() => {
      // a block whose size changed (cannot happen through the store) counts as removed and added
      const removed = Number(db.prepare(`DELETE FROM blocks WHERE NOT EXISTS
        (SELECT 1 FROM temp.seen s WHERE s.mh = blocks.mh AND s.size = blocks.size)`).run().changes)
      const added = Number(db.prepare('INSERT OR IGNORE INTO blocks (mh, size, added) SELECT mh, size, ? FROM temp.seen').run(now).changes)
      db.exec('DELETE FROM temp.seen')
      return { added, removed }
    })
  }

  // ---- pins ----

  /** Starts collecting the blocks of a pin walk (in a connection-local temp table). */
  beginWalk (): number {
    return ++this.#walkSeq
  }

  /** Claims a block reached by a walk; false when the walk had already reached it. */
  claim (walk: number, mh: Uint8Array): boolean {
    return Number(this.#prepare('INSERT OR IGNORE INTO temp.walk (walk, mh, size) VALUES (?, ?, 0)').run(walk, mh).changes) === 1
  }

  /** Records the size of a claimed block once it was read. */
  sized (walk: number, mh: Uint8Array, size: number): void {
    this.#prepare('UPDATE temp.walk SET size = ? WHERE walk = ? AND mh = ?').run(size, walk, mh)
  }

  abortWalk (walk: number): void {
    this.#prepare('DELETE FROM temp.walk WHERE walk = ?').run(walk)
  }

  /** Makes a walk's blocks the coverage of pin `root` (replacing an earlier pin of that root), durably. */
  commitPin (walk: number, pin: { root: string, mode: PinMode, name?: string }): PinRow {
    const db = this.#db
    const created = this.#now()
    return this.#tx(() => {
      const totals = db.prepare('SELECT count(*) AS blocks, coalesce(sum(size), 0) AS bytes FROM temp.walk WHERE walk = ?').get(walk) as { blocks: number, bytes: number }
      db.prepare('DELETE FROM pins WHERE root = ?').run(pin.root)
      db.prepare('INSERT INTO pins (root, mode, name, created, blocks, bytes) VALUES (?, ?, ?, ?, ?, ?)')
        .run(pin.root, pin.mode, pin.name ?? null, created, totals.blocks, totals.bytes)
      db.prepare('INSERT INTO pin_blocks (root, mh) SELECT ?, mh FROM temp.walk WHERE walk = ?').run(pin.root, walk)
      db.prepare('DELETE FROM temp.walk WHERE walk = ?').run(walk)
      return { root: pin.root, mode: pin.mode, name: pin.name, created, blocks: Number(totals.blocks), bytes: Number(totals.bytes) }
    }, true)
  }

  /** Removes a pin and its coverage, durably; false when `root` was not pinned. */
  removePin (root: string): boolean {
    return this.#tx(() => {
      this.#prepare('DELETE FROM pin_blocks WHERE root = ?').run(root)
      return Number(this.#prepare('DELETE FROM pins WHERE root = ?').run(root).changes) === 1
    }, true)
  }

  getPin (root: string): PinRow | undefined {
    const row = this.#prepare('SELECT * FROM pins WHERE root = ?').get(root)
    return row == null ? undefined : toPin(row)
  }

  listPins (): PinRow[] {
    return this.#prepare('SELECT * FROM pins ORDER BY created, root').all().map(toPin)
  }

  /** How many pins cover a block (its reference count). */
  pinCount (mh: Uint8Array): number {
    return Number((this.#prepare('SELECT count(*) AS n FROM pin_blocks WHERE mh = ?').get(mh) as { n: number }).n)
  }

  /** Whether GC must keep a block: a pin covers it or the node holds it for the network. */
  isProtected (mh: Uint8Array): boolean {
    return this.#prepare(`SELECT EXISTS (SELECT 1 FROM pin_blocks WHERE mh = ?1)
      OR EXISTS (SELECT 1 FROM held WHERE mh = ?1) AS p`).get(mh)?.p === 1
  }

  // ---- held for the network ----

  /** Marks a block as held for the network (durably); updates `replicas` if already held. */
  hold (mh: Uint8Array, cid: string, replicas?: string): void {
    this.holdMany([{ mh, cid, replicas }])
  }

  /** Hold many blocks in one durable transaction. */
  holdMany (blocks: Array<{ mh: Uint8Array, cid: string, replicas?: string }>): void {
    if (blocks.length === 0) return
    this.#tx(() => {
      const insert = this.#prepare(`INSERT INTO held (mh, cid, since, replicas) VALUES (?, ?, ?, ?)
        ON CONFLICT (mh) DO UPDATE SET replicas = excluded.replicas`)
      const now = this.#now()
      for (const b of blocks) insert.run(b.mh, b.cid, now, b.replicas ?? null)
    }, true)
  }

  /** False when the block was not held. */
  release (mh: Uint8Array): boolean {
    return this.#tx(() => Number(this.#prepare('DELETE FROM held WHERE mh = ?').run(mh).changes) === 1, true)
  }

  getHeld (mh: Uint8Array): HeldRow | undefined {
    const row = this.#prepare('SELECT * FROM held WHERE mh = ?').get(mh)
    return row == null ? undefined : toHeld(row)
  }

  listHeld (): HeldRow[] {
    return this.#prepare('SELECT * FROM held ORDER BY since, cid').all().map(toHeld)
  }

  // ---- counters ----

  stat (key: string): number {
    return Number((this.#prepare('SELECT value FROM stats WHERE key = ?').get(key) as { value: number } | undefined)?.value ?? 0)
  }

  setStat (key: string, value: number, durable = false): void {
    this.#tx(() => {
      this.#prepare('INSERT INTO stats (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value)
    }, durable)
  }

  addStats (deltas: Record<string, number>): void {
    const add = this.#prepare('INSERT INTO stats (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = value + ?2')
    this.#tx(() => {
      for (const [key, delta] of Object.entries(deltas)) add.run(key, delta)
    })
  }

  pinTotals (): { pins: number } {
    return { pins: Number((this.#prepare('SELECT count(*) AS n FROM pins').get() as { n: number }).n) }
  }

  // ---- names (src/names/) ----

  getName (key: string): NameRow | undefined {
    const row = this.#prepare('SELECT * FROM names WHERE key = ?').get(key)
    return row == null ? undefined : toNameRow(row)
  }

  /**
   * Stores a name's record, durably (synchronous=FULL: it is acknowledged to
   * the writer right after); `counter`, when given, raises this node's
   * coordinator counter for the key in the same transaction. `at`: the
   * time of the change (default this database's clock).
   */
  putName (row: { key: string, record: Uint8Array, hash: Uint8Array, live: boolean, at?: number }, counter?: number): void {
    const now = row.at ?? this.#now()
    this.#tx(() => {
      this.#prepare(`INSERT INTO names (key, record, hash, live, updated, dead_since) VALUES (?1, ?2, ?3, ?4, ?5, CASE WHEN ?4 = 1 THEN NULL ELSE ?5 END)
        ON CONFLICT (key) DO UPDATE SET record = excluded.record, hash = excluded.hash, live = excluded.live, updated = excluded.updated,
          dead_since = CASE WHEN excluded.live = 1 THEN NULL ELSE coalesce(names.dead_since, excluded.dead_since) END`)
        .run(row.key, row.record, row.hash, row.live ? 1 : 0, now)
      this.#prepare('DELETE FROM name_graves WHERE key = ?').run(row.key)
      if (counter != null) {
        this.#prepare(`INSERT INTO name_counters (key, counter) VALUES (?1, ?2)
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
    return this.#tx(() => {
      this.#prepare('DELETE FROM name_peers WHERE key = ?').run(key)
      if (grave != null) {
        this.#prepare('INSERT OR REPLACE INTO name_graves (key, record, hash, at) VALUES (?, ?, ?, ?)').run(key, grave.record, grave.hash, grave.at ?? this.#now())
      }
      return Number(this.#prepare('DELETE FROM names WHERE key = ?').run(key).changes) === 1
    }, true)
  }

  /** The collected record of a deleted name, while it is kept. */
  getNameGrave (key: string): { record: Uint8Array, hash: Uint8Array, at: number } | undefined {
    const row = this.#prepare('SELECT record, hash, at FROM name_graves WHERE key = ?').get(key) as { record: Uint8Array, hash: Uint8Array, at: number } | undefined
    return row == null ? undefined : { record: row.record, hash: row.hash, at: Number(row.at) }
  }

  /** Forgets the collected records of names collected before `before` (ms); how many. */
  purgeNameGraves (before: number): number {
    return this.#tx(() => Number(this.#prepare('DELETE FROM name_graves WHERE at < ?').run(before).changes))
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
      ? this.#prepare('SELECT * FROM names WHERE key > ? ORDER BY key LIMIT ?').all(after, limit)
      // "/a" and "/a/..." ("0" is the character after "/")
      : this.#prepare('SELECT * FROM names WHERE key > ?1 AND (key = ?2 OR (key >= ?2 || \'/\' AND key < ?2 || \'0\')) ORDER BY key LIMIT ?3').all(after, prefix, limit)
    return rows.map(toNameRow)
  }

  countNames (): number {
    return Number((this.#prepare('SELECT count(*) AS n FROM names').get() as { n: number }).n)
  }

  /** The highest dot counter this node used as the coordinator of `key` (0: none). */
  nameCounter (key: string): number {
    return Number((this.#prepare('SELECT counter FROM name_counters WHERE key = ?').get(key) as { counter: number } | undefined)?.counter ?? 0)
  }

  /** Remembers that `peer` holds the version `hash` of `key`. */
  setNamePeer (key: string, peer: string, hash: Uint8Array): void {
    this.#prepare(`INSERT INTO name_peers (key, peer, hash, at) VALUES (?, ?, ?, ?)
      ON CONFLICT (key, peer) DO UPDATE SET hash = excluded.hash, at = excluded.at`).run(key, peer, hash, this.#now())
  }

  /** The peers known to hold a record of `key`, with the version each was last known to hold. */
  namePeers (key: string): Array<{ peer: string, hash: Uint8Array }> {
    return (this.#prepare('SELECT peer, hash FROM name_peers WHERE key = ? ORDER BY peer').all(key) as Array<{ peer: string, hash: Uint8Array }>)
      .map(r => ({ peer: r.peer, hash: r.hash }))
  }
}

export interface NameRow {
  key: string
  record: Uint8Array
  hash: Uint8Array
  live: boolean
  updated: number
  /** Since when (this node's clock) the record holds tombstones only. */
  deadSince?: number
}

function toNameRow (row: Row): NameRow {
  const out: NameRow = { key: row.key as string, record: row.record as Uint8Array, hash: row.hash as Uint8Array, live: row.live === 1, updated: Number(row.updated) }
  if (row.dead_since != null) out.deadSince = Number(row.dead_since)
  return out
}

function toPin (row: Row): PinRow {
  const pin: PinRow = {
    root: row.root as string,
    mode: row.mode as PinMode,
    created: Number(row.created),
    blocks: Number(row.blocks),
    bytes: Number(row.bytes)
  }
  if (row.name != null) pin.name = row.name as string
  return pin
}

function toHeld (row: Row): HeldRow {
  const held: HeldRow = { mh: row.mh as Uint8Array, cid: row.cid as string, since: Number(row.since) }
  if (row.replicas != null) held.replicas = row.replicas as string
  return held
}
