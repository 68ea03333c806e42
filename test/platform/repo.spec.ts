import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { RepoLockedError } from '../../src/errors.ts'
import { loadOrCreateIdentity } from '../../src/net/identity.ts'
import { acquireRepoLock, ensureRepoDir, repoPaths, resolveRepoDir } from '../../src/platform/repo.ts'
import { tempDir } from '../helpers/tmp.ts'

/** The pid of a process that has already exited. */
function deadPid (): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
  return Number(child.stdout)
}

describe('repo', () => {
  let dir: string
  let cleanup: () => Promise<void>
  beforeEach(async () => { ({ dir, cleanup } = await tempDir()) })
  afterEach(async () => { await cleanup() })

  it('is --repo, else $SHOAL_HOME, else ~/.shoal', () => {
    assert.equal(resolveRepoDir({ repo: 'rel/dir', env: { SHOAL_HOME: '/x' } }), path.resolve('rel/dir'))
    assert.equal(resolveRepoDir({ env: { SHOAL_HOME: '/srv/shoal' } }), '/srv/shoal')
    assert.equal(resolveRepoDir({ env: { SHOAL_HOME: '' }, home: '/home/u' }), '/home/u/.shoal')
    assert.equal(resolveRepoDir({ env: {}, home: '/home/u' }), '/home/u/.shoal')
  })

  it('creates the directory with mode 0700 and refuses a file in its place', async () => {
    const root = path.join(dir, 'nested', 'repo')
    await ensureRepoDir(root)
    assert.equal((await fs.stat(root)).mode & 0o777, 0o700)
    await fs.writeFile(path.join(dir, 'file'), '')
    await assert.rejects(ensureRepoDir(path.join(dir, 'file')), /not a directory|Cannot create repo/)
  })

  describe('lock', () => {
    it('lets one holder in and tells the second which pid holds it', async () => {
      const paths = repoPaths(dir)
      const lock = await acquireRepoLock(paths)
      await assert.rejects(acquireRepoLock(paths, process.pid + 1), (err: Error) => {
        assert.ok(err instanceof RepoLockedError)
        assert.equal(err.pid, process.pid)
        assert.match(err.message, new RegExp(`Cannot use repo ".*": a shoal daemon \\(pid ${process.pid}\\) is already running on it`))
        return true
      })
      await lock.release()
      const again = await acquireRepoLock(paths)
      await again.release()
      await assert.rejects(fs.stat(paths.lock), { code: 'ENOENT' })
    })

    it('recovers a stale lock left by a killed process', async () => {
      const paths = repoPaths(dir)
      const pid = deadPid()
      await fs.writeFile(paths.lock, JSON.stringify({ pid, hostname: os.hostname(), startedAt: new Date().toISOString() }))
      const lock = await acquireRepoLock(paths)
      assert.equal(JSON.parse(await fs.readFile(paths.lock, 'utf8')).pid, process.pid)
      await lock.release()
    })

    it('recovers a lock naming our own pid that this process did not take (pid 1 in a restarted container)', async () => {
      const paths = repoPaths(dir)
      await fs.writeFile(paths.lock, JSON.stringify({ pid: process.pid, hostname: os.hostname(), startedAt: new Date().toISOString() }))
      const lock = await acquireRepoLock(paths)
      // but the same process asking twice is refused
      await assert.rejects(acquireRepoLock(paths), RepoLockedError)
      await lock.release()
    })

    it('recovers a lock file that is not a lock (garbage)', async () => {
      const paths = repoPaths(dir)
      await fs.writeFile(paths.lock, 'garbage')
      const lock = await acquireRepoLock(paths)
      await lock.release()
    })

    it('leaves no temp files behind', async () => {
      const paths = repoPaths(dir)
      const lock = await acquireRepoLock(paths)
      await assert.rejects(acquireRepoLock(paths, 1))
      await lock.release()
      assert.deepEqual(await fs.readdir(dir), [])
    })
  })

  describe('identity key', () => {
    it('is created once with mode 0600 and the same key is loaded after', async () => {
      const paths = repoPaths(dir)
      const first = await loadOrCreateIdentity(paths.identity)
      assert.equal(first.created, true)
      assert.equal((await fs.stat(paths.identity)).mode & 0o777, 0o600)
      const second = await loadOrCreateIdentity(paths.identity)
      assert.equal(second.created, false)
      assert.ok(second.privateKey.equals(first.privateKey))
    })

    it('tightens a key file that others can read', async () => {
      const paths = repoPaths(dir)
      await loadOrCreateIdentity(paths.identity)
      await fs.chmod(paths.identity, 0o644)
      await loadOrCreateIdentity(paths.identity)
      assert.equal((await fs.stat(paths.identity)).mode & 0o777, 0o600)
    })

    it('refuses a corrupted key file instead of replacing the identity', async () => {
      const paths = repoPaths(dir)
      await fs.writeFile(paths.identity, 'not a key')
      await assert.rejects(loadOrCreateIdentity(paths.identity), /Cannot read the identity key/)
      assert.equal(await fs.readFile(paths.identity, 'utf8'), 'not a key')
    })
  })
})
