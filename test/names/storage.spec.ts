import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { RepoError } from '../../src/errors.ts'
import { NAME_MIGRATIONS, NameStore } from '../../src/names/storage.ts'
import { dumpSchema, Metadata, migrate, MIGRATIONS, moduleVersion } from '../../src/store/metadata.ts'
import { tempDir } from '../helpers/tmp.ts'

const FIXTURE = path.resolve(import.meta.dirname, '../fixtures/names/schema-v1.sql')

/** The names tables as the store's schema 2 created them, before the names module kept its own. */
const PRE_SPLIT_NAMES = (await fs.readFile(FIXTURE, 'utf8'))

describe('names/storage: the names module\'s own tables', () => {
  let dir: string
  let cleanup: () => Promise<void>
  beforeEach(async () => { ({ dir, cleanup } = await tempDir('shoal-names-db-')) })
  afterEach(async () => { await cleanup() })

  it('its schema equals its golden fixture, apart from the store\'s', () => {
    const db = new DatabaseSync(':memory:')
    migrate(db)
    const store = new Set(dumpSchema(db).split('\n\n'))
    // what the module adds to a store database
    const m = Metadata.open(':memory:')
    NameStore.open(m)
    const added = dumpSchema(m.db).split('\n\n').filter(x => !store.has(x)).join('\n\n')
    assert.equal(added, PRE_SPLIT_NAMES)
    assert.equal(moduleVersion(m.db, 'names'), NAME_MIGRATIONS.length)
    m.close()
    db.close()
  })

  it('a database from before the split (store schema 2 with the names tables) keeps its names', () => {
    const file = path.join(dir, 'metadata.db')
    const old = new DatabaseSync(file)
    migrate(old, MIGRATIONS, { target: 1 })
    old.exec(PRE_SPLIT_NAMES)
    old.exec('PRAGMA user_version = 2')
    old.prepare('INSERT INTO names (key, record, hash, live, updated) VALUES (?, ?, ?, 1, 5)').run('/kept', new Uint8Array([1, 2, 3]), new Uint8Array(32))
    old.close()

    const meta = Metadata.open(file)
    assert.equal(meta.version, MIGRATIONS.length)
    assert.equal(moduleVersion(meta.db, 'names'), 1, 'adopted as the names module\'s version 1')
    const names = NameStore.open(meta)
    assert.deepEqual(names.getName('/kept')?.record, new Uint8Array([1, 2, 3]))
    meta.close()
  })

  it('names tables newer than this shoal knows are refused clearly', () => {
    const meta = Metadata.open(':memory:')
    NameStore.open(meta)
    meta.db.prepare("UPDATE schema_modules SET version = 9 WHERE name = 'names'").run()
    assert.throws(() => NameStore.open(meta), (err: Error) => err instanceof RepoError && /the names tables .* version 9, newer than this shoal knows \(version 1\)/.test(err.message))
    meta.close()
  })

  it('a module migration that fails rolls back and leaves its version where it was', () => {
    const meta = Metadata.open(':memory:')
    assert.throws(() => meta.migrateModule('test', [
      { version: 1, description: 'a table', up: (db) => { db.exec('CREATE TABLE t1 (x INTEGER)') } },
      { version: 2, description: 'a broken step', up: (db) => { db.exec('CREATE TABLE t2 (x INTEGER)'); throw new Error('no') } }
    ]), /Cannot migrate the test tables of .* to schema version 2 \(a broken step\): no/)
    assert.equal(moduleVersion(meta.db, 'test'), 1)
    assert.equal(meta.db.prepare("SELECT 1 FROM sqlite_schema WHERE name = 't2'").get(), undefined)
    meta.close()
  })
})
