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
import { createHash } from 'node:crypto'
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

// other modules (names/, replication/) keep their own tables in this database,
// each with its own ordered migrations (Metadata.migrateModule)
const SCHEMA_V3_MODULES = `
CREATE TABLE schema_modules (
  name TEXT PRIMARY KEY, -- a module with its own tables, e.g. 'names'
  version INTEGER NOT NULL -- the last of its migrations applied
) STRICT, WITHOUT ROWID;
`

/** A block's place in the keyspace: sha2-256 of its multihash (replica sets and range summaries use it). */
export function kadOf (mh: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(mh).digest())
}

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
    // this step created the names tables; they are names/'s own now (names/storage.ts
    // creates them, or adopts those a database of that time already has)
    version: 2,
    description: 'nothing any more (the names tables moved to the names module)',
    up () {}
  },
  {
    version: 3,
    description: 'the schema versions of the modules that keep their own tables here',
    up (db) {
      db.exec(SCHEMA_V3_MODULES)
      // a database of schema 2 has the names tables: they are the names module's version 1
      const names = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'names'").get()
      if (names != null) db.prepare("INSERT INTO schema_modules (name, version) VALUES ('names', 1)").run()
    }
  },
  {
    version: 4,
    description: 'each block\'s place in the keyspace, indexed, for range queries',
    up (db) {
      // (kad: sha2-256 of mh, the block's place in the keyspace)
      db.exec('ALTER TABLE blocks ADD COLUMN kad BLOB')
      const set = db.prepare('UPDATE blocks SET kad = ? WHERE mh = ?')
      for (const row of db.prepare('SELECT mh FROM blocks').iterate() as Iterable<{ mh: Uint8Array }>) set.run(kadOf(row.mh), row.mh)
      db.exec('CREATE INDEX blocks_by_kad ON blocks (kad)')
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
  return runMigrations(db, migrations, {
    what: `${options.file ?? 'the metadata database'}`,
    target: options.target,
    current: schemaVersion(db),
    record: (version) => { db.exec(`PRAGMA user_version = ${version}`) }
  })
}

/** The schema version of a module's own tables (0: none yet). */
export function moduleVersion (db: DatabaseSync, module: string): number {
  const row = db.prepare('SELECT version FROM schema_modules WHERE name = ?').get(module) as { version: number } | undefined
  return Number(row?.version ?? 0)
}

/**
 * Brings the tables of `module` to the last of its `migrations` (or
 * `target`), one transaction per step, its version kept in schema_modules.
 */
export function migrateModule (db: DatabaseSync, module: string, migrations: readonly Migration[], options: { file?: string, target?: number } = {}): number {
  return runMigrations(db, migrations, {
    what: `the ${module} tables of ${options.file ?? 'the metadata database'}`,
    target: options.target,
    current: moduleVersion(db, module),
    record: (version) => {
      db.prepare('INSERT INTO schema_modules (name, version) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET version = ?2').run(module, version)
    }
  })
}

function runMigrations (db: DatabaseSync, migrations: readonly Migration[], how: { what: string, current: number, target?: number, record(version: number): void }): number {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`Migration list is malformed: entry ${i} has version ${m.version}, expected ${i + 1}`)
  })
  const latest = migrations.length
  const target = how.target ?? latest
  if (how.current > latest) {
    throw new RepoError(`Cannot open ${how.what}: their schema is version ${how.current}, newer than this shoal knows (version ${latest}); it was written by a newer shoal`)
  }
  let reached = how.current
  for (const m of migrations) {
    if (m.version <= how.current || m.version > target) continue
    db.exec('PRAGMA synchronous = FULL')
    db.exec('BEGIN IMMEDIATE')
    try {
      m.up(db)
      how.record(m.version)
      db.exec('COMMIT')
      reached = m.version
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK')
      throw new RepoError(`Cannot migrate ${how.what} to schema version ${m.version} (${m.description}): ${(err as Error).message}`, { cause: err })
    } finally {
      db.exec('PRAGMA synchronous = NORMAL')
    }
  }
  return reached
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

  /** Brings the tables of another module (names/, replication/) to the last of its own migrations. */
  migrateModule (module: string, migrations: readonly Migration[]): number {
    return migrateModule(this.#db, module, migrations, { file: this.file })
  }

  /** A statement for `sql`, prepared once per database (modules with their own tables use it too). */
  statement (sql: string): StatementSync {
    let statement = this.#statements.get(sql)
    if (statement == null) {
      statement = this.#db.prepare(sql)
      this.#statements.set(sql, statement)
    }
    return statement
  }

  /** Runs `fn` in one transaction; `durable`: committed with synchronous=FULL (it is acknowledged right after). */
  transaction<T> (fn: () => T, durable = false): T {
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
    const insert = this.statement('INSERT OR IGNORE INTO blocks (mh, size, added, kad) VALUES (?, ?, ?, ?)')
    const now = this.#now()
    this.transaction(() => {
      for (const { mh, size } of blocks) insert.run(mh, size, now, kadOf(mh))
    })
  }

  removeBlocks (mhs: Iterable<Uint8Array>): void {
    const del = this.statement('DELETE FROM blocks WHERE mh = ?')
    this.transaction(() => {
      for (const mh of mhs) del.run(mh)
    })
  }

  hasBlock (mh: Uint8Array): boolean {
    return this.statement('SELECT 1 FROM blocks WHERE mh = ?').get(mh) != null
  }

  /** The size of a stored block, by the index. */
  blockSize (mh: Uint8Array): number | undefined {
    const row = this.statement('SELECT size FROM blocks WHERE mh = ?').get(mh) as { size: number } | undefined
    return row == null ? undefined : Number(row.size)
  }

  /**
   * Stored blocks whose place in the keyspace (kad) is in [lo, hi) (hi
   * undefined: to the end), in kad order, after `after`, at most `limit`.
   */
  blocksInRange (lo: Uint8Array, hi: Uint8Array | undefined, options: { after?: Uint8Array, limit?: number } = {}): Array<{ kad: Uint8Array, mh: Uint8Array, size: number }> {
    const from = options.after ?? lo
    const op = options.after == null ? '>=' : '>'
    const limit = options.limit ?? -1
    const rows = hi == null
      ? this.statement(`SELECT kad, mh, size FROM blocks WHERE kad ${op} ? ORDER BY kad LIMIT ?`).all(from, limit)
      : this.statement(`SELECT kad, mh, size FROM blocks WHERE kad ${op} ? AND kad < ? ORDER BY kad LIMIT ?`).all(from, hi, limit)
    return (rows as Array<{ kad: Uint8Array, mh: Uint8Array, size: number }>).map(r => ({ kad: r.kad, mh: r.mh, size: Number(r.size) }))
  }

  /**
   * Held blocks (held for the network, and stored) whose kad is in [lo, hi),
   * in kad order, after `after`, at most `limit`.
   */
  heldInRange (lo: Uint8Array, hi: Uint8Array | undefined, options: { after?: Uint8Array, limit?: number } = {}): Array<{ kad: Uint8Array, mh: Uint8Array, size: number }> {
    const op = options.after == null ? '>=' : '>'
    const upper = hi == null ? '' : 'AND b.kad < ?2'
    const rows = this.statement(`SELECT b.kad AS kad, b.mh AS mh, b.size AS size FROM blocks b JOIN held h ON h.mh = b.mh
      WHERE b.kad ${op} ?1 ${upper} ORDER BY b.kad LIMIT ?3`).all(options.after ?? lo, hi ?? null, options.limit ?? -1) as Array<{ kad: Uint8Array, mh: Uint8Array, size: number }>
    return rows.map(r => ({ kad: r.kad, mh: r.mh, size: Number(r.size) }))
  }

  /** Stored blocks in [lo, hi) that no pin covers and that are not held: cache. At most `limit`. */
  unprotectedInRange (lo: Uint8Array, hi: Uint8Array | undefined, limit: number): Uint8Array[] {
    const upper = hi == null ? '' : 'AND b.kad < ?2'
    return (this.statement(`SELECT b.mh AS mh FROM blocks b WHERE b.kad >= ?1 ${upper}
      AND NOT EXISTS (SELECT 1 FROM held h WHERE h.mh = b.mh) AND NOT EXISTS (SELECT 1 FROM pin_blocks p WHERE p.mh = b.mh)
      ORDER BY b.kad LIMIT ?3`).all(lo, hi ?? null, limit) as Array<{ mh: Uint8Array }>).map(r => r.mh)
  }

  /** How many stored blocks, and their bytes, no pin covers and are not held (cache: what GC reclaims). */
  unprotectedTotals (): { blocks: number, bytes: number } {
    const row = this.statement(`SELECT count(*) AS n, coalesce(sum(b.size), 0) AS s FROM blocks b
      WHERE NOT EXISTS (SELECT 1 FROM held h WHERE h.mh = b.mh) AND NOT EXISTS (SELECT 1 FROM pin_blocks p WHERE p.mh = b.mh)`).get() as { n: number, s: number }
    return { blocks: Number(row.n), bytes: Number(row.s) }
  }

  /** How many stored blocks, and their bytes, lie in [lo, hi). */
  rangeTotals (lo: Uint8Array, hi: Uint8Array | undefined): { blocks: number, bytes: number } {
    const row = (hi == null
      ? this.statement('SELECT count(*) AS n, coalesce(sum(size), 0) AS b FROM blocks WHERE kad >= ?').get(lo)
      : this.statement('SELECT count(*) AS n, coalesce(sum(size), 0) AS b FROM blocks WHERE kad >= ? AND kad < ?').get(lo, hi)) as { n: number, b: number }
    return { blocks: Number(row.n), bytes: Number(row.b) }
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
    const see = this.statement('INSERT OR REPLACE INTO temp.seen (mh, size) VALUES (?, ?)')
    this.transaction(() => {
      for (const { mh, size } of blocks) see.run(mh, size)
    })
  }

  finishIndexRebuild (): { added: number, removed: number } {
    const db = this.#db
    const now = this.#now()
    return this.transaction(() => {
      // a block whose size changed (cannot happen through the store) counts as removed and added
      const removed = Number(db.prepare(`DELETE FROM blocks WHERE NOT EXISTS
        (SELECT 1 FROM temp.seen s WHERE s.mh = blocks.mh AND s.size = blocks.size)`).run().changes)
      const added = Number(db.prepare('INSERT OR IGNORE INTO blocks (mh, size, added) SELECT mh, size, ? FROM temp.seen').run(now).changes)
      const place = db.prepare('UPDATE blocks SET kad = ? WHERE mh = ?')
      for (const row of db.prepare('SELECT mh FROM blocks WHERE kad IS NULL').all() as Array<{ mh: Uint8Array }>) place.run(kadOf(row.mh), row.mh)
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
    return Number(this.statement('INSERT OR IGNORE INTO temp.walk (walk, mh, size) VALUES (?, ?, 0)').run(walk, mh).changes) === 1
  }

  /** Records the size of a claimed block once it was read. */
  sized (walk: number, mh: Uint8Array, size: number): void {
    this.statement('UPDATE temp.walk SET size = ? WHERE walk = ? AND mh = ?').run(size, walk, mh)
  }

  abortWalk (walk: number): void {
    this.statement('DELETE FROM temp.walk WHERE walk = ?').run(walk)
  }

  /** Makes a walk's blocks the coverage of pin `root` (replacing an earlier pin of that root), durably. */
  commitPin (walk: number, pin: { root: string, mode: PinMode, name?: string }): PinRow {
    const db = this.#db
    const created = this.#now()
    return this.transaction(() => {
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
    return this.transaction(() => {
      this.statement('DELETE FROM pin_blocks WHERE root = ?').run(root)
      return Number(this.statement('DELETE FROM pins WHERE root = ?').run(root).changes) === 1
    }, true)
  }

  getPin (root: string): PinRow | undefined {
    const row = this.statement('SELECT * FROM pins WHERE root = ?').get(root)
    return row == null ? undefined : toPin(row)
  }

  listPins (): PinRow[] {
    return this.statement('SELECT * FROM pins ORDER BY created, root').all().map(toPin)
  }

  /** The recursive pin root (the oldest) whose DAG covers a block, if any. */
  recursiveRootCovering (mh: Uint8Array): string | undefined {
    const row = this.statement(`SELECT p.root AS root FROM pin_blocks b JOIN pins p ON p.root = b.root
      WHERE b.mh = ? AND p.mode = 'recursive' ORDER BY p.created, p.root LIMIT 1`).get(mh) as { root: string } | undefined
    return row?.root
  }

  /** How many pins cover a block (its reference count). */
  pinCount (mh: Uint8Array): number {
    return Number((this.statement('SELECT count(*) AS n FROM pin_blocks WHERE mh = ?').get(mh) as { n: number }).n)
  }

  /** Whether GC must keep a block: a pin covers it or the node holds it for the network. */
  isProtected (mh: Uint8Array): boolean {
    return this.statement(`SELECT EXISTS (SELECT 1 FROM pin_blocks WHERE mh = ?1)
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
    this.transaction(() => {
      const insert = this.statement(`INSERT INTO held (mh, cid, since, replicas) VALUES (?, ?, ?, ?)
        ON CONFLICT (mh) DO UPDATE SET replicas = excluded.replicas`)
      const now = this.#now()
      for (const b of blocks) insert.run(b.mh, b.cid, now, b.replicas ?? null)
    }, true)
  }

  /** False when the block was not held. */
  release (mh: Uint8Array): boolean {
    return this.releaseMany([mh]) === 1
  }

  /** Stops holding blocks (GC may then remove those no pin covers), durably; how many were held. */
  releaseMany (mhs: Iterable<Uint8Array>): number {
    const del = this.statement('DELETE FROM held WHERE mh = ?')
    return this.transaction(() => {
      let n = 0
      for (const mh of mhs) n += Number(del.run(mh).changes)
      return n
    }, true)
  }

  getHeld (mh: Uint8Array): HeldRow | undefined {
    const row = this.statement('SELECT * FROM held WHERE mh = ?').get(mh)
    return row == null ? undefined : toHeld(row)
  }

  listHeld (): HeldRow[] {
    return this.statement('SELECT * FROM held ORDER BY since, cid').all().map(toHeld)
  }

  // ---- counters ----

  stat (key: string): number {
    return Number((this.statement('SELECT value FROM stats WHERE key = ?').get(key) as { value: number } | undefined)?.value ?? 0)
  }

  setStat (key: string, value: number, durable = false): void {
    this.transaction(() => {
      this.statement('INSERT INTO stats (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value)
    }, durable)
  }

  addStats (deltas: Record<string, number>): void {
    const add = this.statement('INSERT INTO stats (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = value + ?2')
    this.transaction(() => {
      for (const [key, delta] of Object.entries(deltas)) add.run(key, delta)
    })
  }

  pinTotals (): { pins: number } {
    return { pins: Number((this.statement('SELECT count(*) AS n FROM pins').get() as { n: number }).n) }
  }
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
