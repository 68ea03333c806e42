import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { RepoError } from '../../src/errors.ts'
import { MIGRATIONS, Metadata, dumpSchema, kadOf, migrate, schemaVersion, type Migration } from '../../src/store/metadata.ts'
import { tempDir } from '../helpers/tmp.ts'

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/store')

const mh = (n: number): Uint8Array => new Uint8Array([0x12, 0x20, ...new Uint8Array(32).fill(n)])

describe('store/metadata', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let file: string

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir('shoal-meta-'))
    file = path.join(dir, 'metadata.db')
  })

  afterEach(async () => {
    await cleanup()
  })

  describe('schema and migrations', () => {
    it('each schema version equals its golden fixture (a schema change needs a migration and a fixture)', async () => {
      for (let version = 1; version <= MIGRATIONS.length; version++) {
        const db = new DatabaseSync(':memory:')
        assert.equal(migrate(db, MIGRATIONS, { target: version }), version)
        const fixture = path.join(FIXTURES, `schema-v${version}.sql`)
        const golden = await fs.readFile(fixture, 'utf8').catch(() => assert.fail(`missing ${fixture}: write dumpSchema() of version ${version} there`))
        assert.equal(dumpSchema(db), golden, `schema version ${version} differs from ${fixture}`)
        db.close()
      }
    })

    it('a new database is WAL, at the latest version, with its counters at zero', () => {
      const meta = Metadata.open(file)
      assert.equal(meta.fresh, true)
      assert.equal(meta.version, MIGRATIONS.length)
      assert.equal((meta.db.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode, 'wal')
      assert.equal(Number((meta.db.prepare('PRAGMA synchronous').get() as { synchronous: number }).synchronous), 1) // NORMAL
      assert.equal(dumpSchema(meta.db), dumpSchema((() => { const d = new DatabaseSync(':memory:'); migrate(d); return d })()))
      for (const key of ['blocks', 'bytes', 'open', 'gc_runs']) assert.equal(meta.stat(key), 0)
      meta.close()
      const again = Metadata.open(file)
      assert.equal(again.fresh, false)
      assert.equal(again.version, MIGRATIONS.length)
      again.close()
    })

    it('applies pending migrations in order, keeping the data', () => {
      const v1 = Metadata.open(file, { migrations: MIGRATIONS.slice(0, 1) })
      v1.hold(mh(1), 'cid-1')
      v1.close()
      const applied: number[] = []
      const next: Migration[] = [
        ...MIGRATIONS.slice(0, 1),
        { version: 2, description: 'add a', up: (db) => { applied.push(2); db.exec('CREATE TABLE a (x INTEGER) STRICT') } },
        { version: 3, description: 'add b', up: (db) => { applied.push(3); db.exec('CREATE TABLE b (x INTEGER) STRICT') } }
      ]
      const v3 = Metadata.open(file, { migrations: next })
      assert.deepEqual(applied, [2, 3])
      assert.equal(v3.version, 3)
      assert.equal(v3.fresh, false)
      assert.ok(v3.db.prepare("SELECT 1 FROM sqlite_schema WHERE name IN ('a', 'b')").all().length === 2)
      assert.equal(v3.getHeld(mh(1))?.cid, 'cid-1')
      v3.close()
      // and not again
      Metadata.open(file, { migrations: next }).close()
      assert.deepEqual(applied, [2, 3])
    })

    it('a failing migration rolls back entirely and leaves the version where it was', () => {
      Metadata.open(file, { migrations: MIGRATIONS.slice(0, 1) }).close()
      const broken: Migration[] = [
        ...MIGRATIONS.slice(0, 1),
        {
          version: 2,
          description: 'half done',
          up: (db) => {
            db.exec('CREATE TABLE half (x INTEGER)')
            db.exec("INSERT INTO stats (key, value) VALUES ('half', 1)")
            throw new Error('boom')
          }
        }
      ]
      assert.throws(() => Metadata.open(file, { migrations: broken }), (err: unknown) => {
        assert.ok(err instanceof RepoError)
        assert.match(err.message, /schema version 2 \(half done\): boom/)
        return true
      })
      const db = new DatabaseSync(file)
      assert.equal(schemaVersion(db), 1)
      assert.equal(db.prepare("SELECT 1 FROM sqlite_schema WHERE name = 'half'").get(), undefined)
      assert.equal(db.prepare("SELECT 1 FROM stats WHERE key = 'half'").get(), undefined)
      db.close()
    })

    it('a database from a newer shoal is refused clearly', () => {
      Metadata.open(file).close()
      const db = new DatabaseSync(file)
      db.exec('PRAGMA user_version = 99')
      db.close()
      assert.throws(() => Metadata.open(file), (err: unknown) => {
        assert.ok(err instanceof RepoError)
        assert.ok(err.message.includes(`version 99, newer than this shoal knows (version ${MIGRATIONS.length})`), err.message)
        assert.ok(err.message.includes(file))
        return true
      })
    })

    it('a migration list with a gap is a programming error', () => {
      const gap: Migration[] = [MIGRATIONS[0], { version: 3, description: 'x', up: () => {} }]
      assert.throws(() => migrate(new DatabaseSync(':memory:'), gap), /entry 1 has version 3, expected 2/)
    })
  })

  describe('data', () => {
    let meta: Metadata

    beforeEach(() => {
      meta = Metadata.open(file, { now: () => 1_700_000_000_000 })
    })

    afterEach(() => {
      meta.close()
    })

    it('the block index keeps the counters exact (duplicates and removals included)', () => {
      meta.addBlocks([{ mh: mh(1), size: 100 }, { mh: mh(2), size: 50 }])
      meta.addBlocks([{ mh: mh(1), size: 100 }, { mh: mh(3), size: 7 }])
      assert.deepEqual([meta.stat('blocks'), meta.stat('bytes')], [3, 157])
      meta.removeBlocks([mh(2), mh(9)])
      assert.deepEqual([meta.stat('blocks'), meta.stat('bytes')], [2, 107])
      assert.equal(meta.hasBlock(mh(1)), true)
      assert.equal(meta.hasBlock(mh(2)), false)
    })

    it('rebuilding the index makes it exactly what was seen', () => {
      meta.addBlocks([{ mh: mh(1), size: 100 }, { mh: mh(2), size: 50 }, { mh: mh(3), size: 10 }])
      meta.beginIndexRebuild()
      meta.seeBlocks([{ mh: mh(1), size: 100 }, { mh: mh(4), size: 1 }])
      meta.seeBlocks([{ mh: mh(3), size: 11 }]) // a size that changed
      assert.deepEqual(meta.finishIndexRebuild(), { added: 2, removed: 2 })
      assert.deepEqual([meta.stat('blocks'), meta.stat('bytes')], [3, 112])
      assert.equal(meta.hasBlock(mh(2)), false)
      assert.equal(meta.hasBlock(mh(4)), true)
    })

    it('pins share blocks: reference counts, protection, and removal', () => {
      const a = meta.beginWalk()
      for (const n of [1, 2, 3]) assert.equal(meta.claim(a, mh(n)), true)
      assert.equal(meta.claim(a, mh(2)), false)
      for (const n of [1, 2, 3]) meta.sized(a, mh(n), n * 10)
      const b = meta.beginWalk()
      for (const n of [3, 4]) { meta.claim(b, mh(n)); meta.sized(b, mh(n), n * 10) }
      const pinA = meta.commitPin(a, { root: 'root-a', mode: 'recursive', name: 'A' })
      assert.deepEqual(pinA, { root: 'root-a', mode: 'recursive', name: 'A', created: 1_700_000_000_000, blocks: 3, bytes: 60 })
      meta.commitPin(b, { root: 'root-b', mode: 'direct' })
      assert.deepEqual(meta.listPins().map(p => [p.root, p.mode, p.blocks, p.bytes]), [['root-a', 'recursive', 3, 60], ['root-b', 'direct', 2, 70]])
      assert.equal(meta.pinCount(mh(3)), 2)
      assert.equal(meta.pinCount(mh(1)), 1)
      assert.equal(meta.isProtected(mh(4)), true)
      assert.equal(meta.isProtected(mh(5)), false)

      assert.equal(meta.removePin('root-a'), true)
      assert.equal(meta.removePin('root-a'), false)
      assert.equal(meta.pinCount(mh(3)), 1)
      assert.equal(meta.isProtected(mh(1)), false)
      assert.equal(meta.getPin('root-a'), undefined)
      // the walk tables are emptied
      assert.equal((meta.db.prepare('SELECT count(*) AS n FROM temp.walk').get() as { n: number }).n, 0)
    })

    it('re-pinning a root replaces its coverage', () => {
      const w1 = meta.beginWalk()
      meta.claim(w1, mh(1))
      meta.commitPin(w1, { root: 'r', mode: 'direct' })
      const w2 = meta.beginWalk()
      for (const n of [1, 2]) meta.claim(w2, mh(n))
      meta.commitPin(w2, { root: 'r', mode: 'recursive' })
      assert.equal(meta.listPins().length, 1)
      assert.equal(meta.getPin('r')?.mode, 'recursive')
      assert.equal(meta.pinCount(mh(1)), 1)
      assert.equal(meta.pinCount(mh(2)), 1)
    })

    it('held blocks are protected until released', () => {
      meta.hold(mh(7), 'cid-7', '["peer-a"]')
      assert.equal(meta.isProtected(mh(7)), true)
      meta.hold(mh(7), 'cid-7', '["peer-b"]')
      assert.deepEqual(meta.listHeld(), [{ mh: mh(7), cid: 'cid-7', since: 1_700_000_000_000, replicas: '["peer-b"]' }])
      assert.equal(meta.release(mh(7)), true)
      assert.equal(meta.release(mh(7)), false)
      assert.equal(meta.isProtected(mh(7)), false)
    })

    it('survives a reopen', () => {
      meta.addBlocks([{ mh: mh(1), size: 5 }])
      meta.hold(mh(2), 'c2')
      meta.close()
      meta = Metadata.open(file)
      assert.equal(meta.stat('blocks'), 1)
      assert.equal(meta.getHeld(mh(2))?.cid, 'c2')
    })

    it('finds blocks by their place in the keyspace (sha2-256 of the multihash), in order, by range and page', () => {
      const blocks = Array.from({ length: 40 }, (_, i) => ({ mh: mh(i + 1), size: i + 1 }))
      meta.addBlocks(blocks)
      const byKad = blocks.map(b => ({ ...b, kad: kadOf(b.mh) })).sort((a, b) => Buffer.compare(a.kad, b.kad))
      const all = meta.blocksInRange(new Uint8Array(32), undefined)
      assert.deepEqual(all.map(r => r.size), byKad.map(b => b.size))
      // the upper half of the keyspace: kad >= 0x80...
      const half = new Uint8Array(32)
      half[0] = 0x80
      const upper = byKad.filter(b => b.kad[0] >= 0x80)
      assert.deepEqual(meta.blocksInRange(half, undefined).map(r => r.size), upper.map(b => b.size))
      assert.deepEqual(meta.blocksInRange(new Uint8Array(32), half).map(r => r.size), byKad.filter(b => b.kad[0] < 0x80).map(b => b.size))
      assert.deepEqual(meta.rangeTotals(half, undefined), { blocks: upper.length, bytes: upper.reduce((n, b) => n + b.size, 0) })
      // pages: after the last one seen
      const first = meta.blocksInRange(new Uint8Array(32), undefined, { limit: 15 })
      const rest = meta.blocksInRange(new Uint8Array(32), undefined, { after: first.at(-1)?.kad })
      assert.deepEqual([...first, ...rest].map(r => r.size), byKad.map(b => b.size))
    })

    it('releases held blocks in one durable step, saying how many were held', () => {
      meta.holdMany([{ mh: mh(1), cid: 'c1' }, { mh: mh(2), cid: 'c2' }])
      assert.equal(meta.releaseMany([mh(1), mh(2), mh(3)]), 2)
      assert.equal(meta.getHeld(mh(1)), undefined)
    })
  })

  it('schema 4 places the blocks a database already indexes (the migration fills kad)', () => {
    const old = Metadata.open(file, { migrations: MIGRATIONS.slice(0, 3) })
    old.db.prepare('INSERT INTO blocks (mh, size, added) VALUES (?, ?, ?)').run(mh(7), 70, 1)
    old.close()
    const meta = Metadata.open(file)
    assert.deepEqual(meta.blocksInRange(new Uint8Array(32), undefined), [{ kad: kadOf(mh(7)), mh: mh(7), size: 70 }])
    meta.close()
  })
})
