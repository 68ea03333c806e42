import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs/promises'
import path from 'node:path'
import { CID } from 'multiformats/cid'
import { BlockNotFoundError, CorruptBlockError, DiskFullError, RepoError } from '../../src/errors.ts'
import { blockKey, cidFromKey } from '../../src/store/blockstore.ts'
import { FsBlockstore, SHARDING, writeTempFile, type FsBlockstoreInit } from '../../src/store/fs-blockstore.ts'
import { tempDir } from '../helpers/tmp.ts'
import { blockstoreCompliance } from './blockstore-compliance.ts'
import { bytesOf, rawBlock } from './dag.ts'

blockstoreCompliance('FsBlockstore', async () => {
  const { dir, cleanup } = await tempDir('shoal-fsbs-')
  return { store: await FsBlockstore.open({ root: dir }), cleanup }
})

blockstoreCompliance('FsBlockstore without fsync', async () => {
  const { dir, cleanup } = await tempDir('shoal-fsbs-')
  return { store: await FsBlockstore.open({ root: dir, fsync: false, maxConcurrentWrites: 2 }), cleanup }
})

function errnoError (code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: simulated`), { code })
}

/** Every file under `dir`, relative. */
async function filesUnder (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(path.relative(dir, path.join(entry.parentPath, entry.name)))
  }
  return out.sort()
}

describe('store/FsBlockstore', () => {
  let dir: string
  let cleanup: () => Promise<void>

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir('shoal-fsbs-'))
  })

  afterEach(async () => {
    await cleanup()
  })

  const open = async (init: Partial<FsBlockstoreInit> = {}): Promise<FsBlockstore> => await FsBlockstore.open({ root: dir, ...init })

  describe('layout', () => {
    it('is Kubo\'s flatfs next-to-last/2 over base32 multihash keys', async () => {
      const store = await open()
      assert.equal((await fs.readFile(path.join(dir, 'blocks', 'SHARDING'), 'utf8')).trim(), SHARDING)
      // a block every Kubo repo holds, at the path Kubo gives it
      const key = 'CIQA4T3TD3BP3C2M3GXCGRCRTCCHV7XSGAZPZJOAOHLPOI6IQR3H6YQ'
      const v0 = CID.createV0(cidFromKey(key).multihash as Parameters<typeof CID.createV0>[0])
      assert.equal(store.pathOf(v0), path.join(dir, 'blocks', '6Y', `${key}.data`))
      assert.equal(store.pathOf(v0.toV1()), store.pathOf(v0))

      const block = await rawBlock(bytesOf('layout', 100))
      await store.put(block.cid, block.bytes)
      const k = blockKey(block.cid)
      assert.match(k, /^[A-Z2-7]+$/)
      assert.deepEqual(await filesUnder(path.join(dir, 'blocks')), ['SHARDING', path.join(k.slice(-3, -1), `${k}.data`)].sort())
      assert.deepEqual(await fs.readFile(store.pathOf(block.cid)), Buffer.from(block.bytes))
    })

    it('refuses a blocks directory sharded another way', async () => {
      await fs.mkdir(path.join(dir, 'blocks'), { recursive: true })
      await fs.writeFile(path.join(dir, 'blocks', 'SHARDING'), '/repo/flatfs/shard/v1/prefix/2\n')
      await assert.rejects(open(), (err: unknown) => err instanceof RepoError && /prefix\/2/.test(err.message))
    })

    it('list() skips files that are not blocks', async () => {
      const store = await open()
      const block = await rawBlock(bytesOf('junk', 10))
      await store.put(block.cid, block.bytes)
      const shard = path.dirname(store.pathOf(block.cid))
      await fs.writeFile(path.join(shard, 'notes.txt'), 'x')
      await fs.writeFile(path.join(shard, 'NOT-BASE32!.data'), 'x')
      await fs.mkdir(path.join(dir, 'blocks', 'toolong'))
      const other = await rawBlock(bytesOf('elsewhere', 10))
      await fs.writeFile(path.join(shard, `${blockKey(other.cid)}.data`), other.bytes) // in the wrong shard
      const seen = []
      for await (const info of store.list()) seen.push(info.cid.multihash.bytes)
      assert.deepEqual(seen, [block.cid.multihash.bytes])
    })
  })

  describe('corruption', () => {
    it('a block whose file went bad: CorruptBlockError, moved to quarantine, never served again', async () => {
      const reports: Array<[string, string]> = []
      const store = await open({ onCorrupt: (cid, where) => { reports.push([cid.toString(), where]) } })
      const block = await rawBlock(bytesOf('rot', 10_000))
      await store.put(block.cid, block.bytes)
      const file = store.pathOf(block.cid)
      const rotten = Buffer.from(block.bytes)
      rotten[5000] ^= 0x01 // one flipped bit, same size
      await fs.writeFile(file, rotten)

      await assert.rejects(store.get(block.cid), (err: unknown) => {
        assert.ok(err instanceof CorruptBlockError)
        assert.equal(err.cid, block.cid.toString())
        return true
      })
      assert.equal(reports.length, 1)
      assert.equal(reports[0][0], block.cid.toString())
      assert.equal(path.dirname(reports[0][1]), path.join(dir, 'quarantine'))
      assert.deepEqual(await fs.readFile(reports[0][1]), rotten)
      await assert.rejects(fs.stat(file), { code: 'ENOENT' })

      // never served again: not found, not listed
      await assert.rejects(store.get(block.cid), BlockNotFoundError)
      assert.equal(await store.has(block.cid), false)
      for await (const _ of store.list()) assert.fail('a quarantined block was listed')
      // a good copy can be stored again
      await store.put(block.cid, block.bytes)
      assert.deepEqual(await store.get(block.cid), block.bytes)
    })

    it('a truncated file under a final name is rewritten by the next put of that block', async () => {
      const store = await open()
      const block = await rawBlock(bytesOf('torn', 5000))
      await store.put(block.cid, block.bytes)
      await fs.truncate(store.pathOf(block.cid), 100)
      await store.put(block.cid, block.bytes)
      assert.deepEqual(await store.get(block.cid), block.bytes)
    })
  })

  describe('crashes', () => {
    it('temp files left by a crash (complete or truncated) never appear under a final name and are removed at open', async () => {
      const first = await open()
      const kept = await rawBlock(bytesOf('kept', 1000))
      await first.put(kept.cid, kept.bytes)
      await first.sync()
      // what a crash mid-put leaves: a truncated temp and a complete one never renamed
      const torn = await rawBlock(bytesOf('torn-tmp', 4000))
      const whole = await rawBlock(bytesOf('whole-tmp', 4000))
      await fs.writeFile(path.join(dir, 'tmp', `${blockKey(torn.cid)}.1`), torn.bytes.subarray(0, 1234))
      await fs.writeFile(path.join(dir, 'tmp', `${blockKey(whole.cid)}.2`), whole.bytes)
      await fs.writeFile(path.join(dir, 'tmp', 'SHARDING'), '/repo/fl') // a crash while creating the store

      const store = await open()
      assert.deepEqual(await fs.readdir(path.join(dir, 'tmp')), [])
      assert.equal(await store.has(torn.cid), false)
      assert.equal(await store.has(whole.cid), false)
      await assert.rejects(store.get(torn.cid), BlockNotFoundError)
      const listed = []
      for await (const { cid } of store.list()) listed.push(cid.multihash.bytes)
      assert.deepEqual(listed, [kept.cid.multihash.bytes])
      assert.deepEqual(await store.get(kept.cid), kept.bytes)
    })

    it('a write that fails halfway leaves no temp file and nothing under the final name', async () => {
      const store = await open({
        writeTempFile: async (file, bytes) => {
          await fs.writeFile(file, bytes.subarray(0, bytes.length >> 1))
          throw errnoError('EIO')
        }
      })
      const block = await rawBlock(bytesOf('eio', 8000))
      await assert.rejects(store.put(block.cid, block.bytes), { code: 'EIO' })
      assert.equal(await store.has(block.cid), false)
      assert.deepEqual(await fs.readdir(path.join(dir, 'tmp')), [])
      assert.deepEqual(await filesUnder(path.join(dir, 'blocks')), ['SHARDING'])
    })
  })

  describe('disk full', () => {
    for (const code of ['ENOSPC', 'EDQUOT']) {
      it(`${code} while writing (injected): DiskFullError naming the block and the repo, nothing half-written left`, async () => {
        let calls = 0
        const store = await open({
          writeTempFile: async (file, bytes, options) => {
            if (++calls === 2) {
              await fs.writeFile(file, bytes.subarray(0, 100))
              throw errnoError(code)
            }
            await writeTempFile(file, bytes, options)
          }
        })
        const ok = await rawBlock(bytesOf('fits', 1000))
        const full = await rawBlock(bytesOf('does-not-fit', 1000))
        await store.put(ok.cid, ok.bytes)
        await assert.rejects(store.put(full.cid, full.bytes), (err: unknown) => {
          assert.ok(err instanceof DiskFullError, String(err))
          assert.equal(err.code, 'ERR_DISK_FULL')
          assert.ok(err.message.includes(full.cid.toString()), err.message)
          assert.ok(err.message.includes(dir), err.message)
          assert.ok(err.message.includes(code), err.message)
          assert.equal((err.cause as NodeJS.ErrnoException).code, code)
          return true
        })
        assert.deepEqual(await fs.readdir(path.join(dir, 'tmp')), [])
        assert.equal(await store.has(full.cid), false)
        assert.deepEqual(await store.get(ok.cid), ok.bytes)
        // the store keeps working once there is room again
        await store.put(full.cid, full.bytes)
        assert.deepEqual(await store.get(full.cid), full.bytes)
      })
    }

    describe('on a real 1 MiB tmpfs', function () {
      let mountPoint: string | undefined

      before(function () {
        if (process.platform !== 'linux') this.skip()
        mountPoint = path.join(path.dirname(dir), `shoal-tmpfs-${process.pid}-${Date.now()}`)
        try {
          execFileSync('mkdir', ['-p', mountPoint])
          execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint], { stdio: 'ignore' })
        } catch {
          execFileSync('rm', ['-rf', mountPoint])
          mountPoint = undefined
          this.skip() // mounting needs root (CAP_SYS_ADMIN)
        }
      })

      after(() => {
        if (mountPoint == null) return
        execFileSync('umount', [mountPoint])
        execFileSync('rmdir', [mountPoint])
      })

      it('filling the disk gives DiskFullError; every block under a final name is whole', async () => {
        const root = mountPoint as string
        const store = await FsBlockstore.open({ root })
        const stored = []
        let failure: unknown
        for (let i = 0; i < 8 && failure == null; i++) {
          const block = await rawBlock(bytesOf(`tmpfs-${i}`, 256 * 1024))
          try {
            await store.put(block.cid, block.bytes)
            stored.push(block)
          } catch (err) {
            failure = err
          }
        }
        assert.ok(failure instanceof DiskFullError, `expected DiskFullError, got ${String(failure)}`)
        assert.match(failure.message, /ENOSPC/)
        assert.ok(failure.message.includes(root))
        assert.ok(stored.length >= 1 && stored.length < 4, `stored ${stored.length} blocks of 256 KiB in 1 MiB`)
        assert.deepEqual(await fs.readdir(path.join(root, 'tmp')), [])
        let listed = 0
        for await (const { cid } of store.list()) {
          await store.get(cid) // verifies
          listed++
        }
        assert.equal(listed, stored.length)
        await store.sync()
      })
    })
  })

  describe('sync', () => {
    it('makes puts and deletes durable and can be called with nothing to do', async () => {
      const store = await open()
      await store.sync()
      const blocks = await Promise.all(Array.from({ length: 10 }, async (_, i) => await rawBlock(bytesOf(`sync-${i}`, 100))))
      await store.putMany(blocks)
      await store.sync()
      await store.delete(blocks[0].cid)
      await store.sync()
      const reopened = await open()
      assert.equal(await reopened.has(blocks[0].cid), false)
      for (const b of blocks.slice(1)) assert.deepEqual(await reopened.get(b.cid), b.bytes)
    })
  })
})
