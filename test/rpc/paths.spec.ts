/**
 * `CID/dir/file` and `/ipfs/CID/dir/file` on the RPC port (content.stat,
 * content.ls, GET /api/v1/cat/CID/PATH) and the tar download
 * (GET /api/v1/get/CID[/PATH]?format=tar), against one daemon.
 */
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'
import { assertJsonError, startTestDaemon } from '../helpers/daemon.ts'
import type { HttpReply, TestDaemon } from '../helpers/daemon.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'
import { addTree, expectedTree, extractTar, ODD, readTree } from '../helpers/trees.ts'
import type { TreeSpec } from '../helpers/trees.ts'

describe('paths and tar on the RPC port', function () {
  this.timeout(60_000)
  let d: TestDaemon
  let tmp: { dir: string, cleanup: () => Promise<void> }
  let root: string
  let sharded: string
  let cids = new Map<string, string>()
  const big = crypto.randomBytes(700_000)
  const spec: TreeSpec = {
    'a.txt': { content: Buffer.from('alpha\n') },
    sub: { dir: true },
    'sub/big.bin': { content: big },
    [`sub/${ODD}`]: { content: Buffer.from('an odd name') },
    'sub/zero': { content: Buffer.alloc(0) },
    'sub/deeper': { dir: true },
    'sub/deeper/c.txt': { content: Buffer.from('c') },
    'sub/up': { target: '../a.txt' },
    empty: { dir: true }
  }
  const shardSpec: TreeSpec = { d: { dir: true } }
  for (let i = 0; i < 60; i++) shardSpec[`d/n${i}`] = { content: Buffer.from(`entry ${i}`) }
  shardSpec[`d/${ODD}`] = { content: Buffer.from('odd in a shard') }

  before(async () => {
    tmp = await tempDir('shoal-paths-')
    d = await startTestDaemon()
    const { files } = d.daemon.node
    const added = await addTree(files, spec)
    root = added.cid
    cids = added.cids
    sharded = (await addTree(files, shardSpec, { shardSplitThresholdBytes: 1 })).cid
    assert.equal((await d.rpc('content.stat', { cid: `${sharded}/d`, replicas: false })).sharded, true)
  })
  after(async () => {
    await d?.stop()
    await tmp?.cleanup()
  })

  describe('content.stat and content.ls', () => {
    it('take CID/dir/file, /ipfs/CID/dir/file and a trailing slash: the stat is of what the path names', async () => {
      for (const p of [`${root}/sub/big.bin`, `/ipfs/${root}/sub/big.bin`]) {
        const stat = await d.rpc('content.stat', { cid: p })
        assert.equal(stat.cid, cids.get('sub/big.bin'), p)
        assert.equal(stat.type, 'file')
        assert.equal(stat.size, big.length)
        assert.equal(stat.replicas.blocks, 4) // the replicas of the file, not of the root
      }
      const dir = await d.rpc('content.stat', { cid: `/ipfs/${root}/sub/`, replicas: false })
      assert.equal(dir.cid, cids.get('sub'))
      assert.equal(dir.type, 'directory')
      const link = await d.rpc('content.stat', { cid: `${root}/sub/up`, replicas: false })
      assert.equal(link.type, 'symlink')
      assert.equal(link.target, '../a.txt')
    })

    it('list a directory below the root, and go through HAMT shards', async () => {
      const names = (await d.rpc('content.ls', { cid: `/ipfs/${root}/sub` })).map((e: { name: string }) => e.name)
      assert.deepEqual(names, [ODD, 'big.bin', 'deeper', 'up', 'zero'])
      const entries = await d.rpc('content.ls', { cid: `${sharded}/d` })
      assert.equal(entries.length, 61)
      const n17 = await d.rpc('content.stat', { cid: `${sharded}/d/n17`, replicas: false })
      assert.equal(n17.cid, entries.find((e: { name: string }) => e.name === 'n17').cid)
      assert.equal(n17.size, 'entry 17'.length)
    })

    it('fail a missing entry with ERR_PATH_NOT_FOUND, a path below a file too, and a malformed path with ERR_INVALID_ARGUMENT', async () => {
      const failure = async (method: string, cid: string): Promise<{ code: string, message: string }> => {
        const err = await d.rpc(method, { cid }).then(() => assert.fail(`${method} ${cid} succeeded`), (e: any) => e)
        return { code: err.data?.code, message: err.message }
      }
      assert.deepEqual((await failure('content.stat', `${root}/sub/nope`)).code, 'ERR_PATH_NOT_FOUND')
      assert.deepEqual((await failure('content.ls', `${sharded}/d/nope`)).code, 'ERR_PATH_NOT_FOUND')
      const below = await failure('content.stat', `${root}/a.txt/more`)
      assert.equal(below.code, 'ERR_PATH_NOT_FOUND')
      assert.match(below.message, /"[^"]+\/a\.txt" is a file, not a directory/)
      for (const bad of [`${root}/sub/../a.txt`, `${root}//a.txt`, `${root}/a\0`, `/${root}/a.txt`]) {
        assert.equal((await failure('content.stat', bad)).code, 'ERR_INVALID_ARGUMENT', bad)
      }
      assert.equal((await failure('content.ls', 'nope/sub')).code, 'ERR_INVALID_CID')
    })
  })

  describe('GET /api/v1/cat/CID/PATH', () => {
    it('answers the file a path names, names percent-encoded per segment, Range included', async () => {
      const r = await d.request(`/api/v1/cat/${root}/sub/big.bin`)
      assert.equal(r.status, 200, r.body.toString())
      assert.deepEqual(r.body, big)
      const odd = await d.request(`/api/v1/cat/${root}/sub/${encodeURIComponent(ODD)}`)
      assert.equal(odd.status, 200, odd.body.toString())
      assert.equal(odd.body.toString(), 'an odd name')
      const range = await d.request(`/api/v1/cat/${root}/sub/big.bin`, { headers: { Range: 'bytes=300000-300009' } })
      assert.equal(range.status, 206)
      assert.deepEqual(range.body, big.subarray(300_000, 300_010))
    })

    it('goes through a HAMT-sharded directory, a percent-encoded name in it too', async () => {
      const r = await d.request(`/api/v1/cat/${sharded}/d/n42`)
      assert.equal(r.status, 200, r.body.toString())
      assert.equal(r.body.toString(), 'entry 42')
      const odd = await d.request(`/api/v1/cat/${sharded}/d/${encodeURIComponent(ODD)}`)
      assert.equal(odd.body.toString(), 'odd in a shard')
    })

    it('answers 404 for a missing entry or a path below a file, 400 for a malformed path or a directory', async () => {
      assertJsonError(await d.request(`/api/v1/cat/${root}/sub/nope`), 404, 'ERR_PATH_NOT_FOUND', /No link "nope"/)
      assertJsonError(await d.request(`/api/v1/cat/${root}/a.txt/x`), 404, 'ERR_PATH_NOT_FOUND', /is a file, not a directory/)
      // the request's own path is read, not the normalised one: `..` is refused, never followed
      assertJsonError(await d.request(`/api/v1/cat/${root}/sub/../a.txt`), 400, 'ERR_INVALID_ARGUMENT', /"\.\."/)
      assertJsonError(await d.request(`/api/v1/cat/${root}/sub/%2e%2e/a.txt`), 400, 'ERR_INVALID_ARGUMENT', /"\.\."/)
      assertJsonError(await d.request(`/api/v1/cat/${root}//a.txt`), 400, 'ERR_INVALID_ARGUMENT', /empty segment/)
      assertJsonError(await d.request(`/api/v1/cat/${root}/a%00`), 400, 'ERR_INVALID_ARGUMENT')
      assertJsonError(await d.request(`/api/v1/cat/${root}/sub%2Fbig.bin`), 400, 'ERR_INVALID_ARGUMENT', /one entry name/)
      assertJsonError(await d.request(`/api/v1/cat/${root}/%E0%A4`), 400, 'ERR_INVALID_ARGUMENT', /percent-encoding/)
      assertJsonError(await d.request(`/api/v1/cat/${root}/sub/`), 400, 'ERR_INVALID_ARGUMENT', /directory/)
      assertJsonError(await d.request('/api/v1/cat/'), 400, 'ERR_INVALID_CID')
      // the daemon is still there
      assert.equal((await d.request(`/api/v1/cat/${root}/a.txt`)).body.toString(), 'alpha\n')
    })
  })

  describe('GET /api/v1/get/CID[/PATH]?format=tar', () => {
    /** The archive a route answers, extracted with the system's tar into a fresh directory. */
    const untar = async (reply: HttpReply): Promise<string> => {
      assert.equal(reply.status, 200, reply.body.toString())
      assert.equal(reply.headers['content-type'], 'application/x-tar')
      return await extractTar(reply.body, tmp.dir)
    }

    it('streams the tree as `ipfs get -a` lays it out: every file\'s bytes, directories, symlink targets', async () => {
      const reply = await d.request(`/api/v1/get/${root}?format=tar`)
      assert.match(String(reply.headers['content-disposition']), new RegExp(`^attachment; filename="${root}\\.tar"`))
      const dir = await untar(reply)
      assert.deepEqual(await fs.readdir(dir), [root])
      assert.deepEqual(await readTree(path.join(dir, root)), expectedTree(spec))
      const stat = await fs.stat(path.join(dir, root, 'sub', 'big.bin'))
      assert.equal(stat.mode & 0o777, 0o644)
      assert.equal((await fs.stat(path.join(dir, root, 'sub'))).mode & 0o777, 0o755)
    })

    it('a path below the root: the subtree under its own name, through a HAMT too', async () => {
      const dir = await untar(await d.request(`/api/v1/get/${root}/sub?format=tar`))
      assert.deepEqual(await fs.readdir(dir), ['sub'])
      assert.deepEqual(await readTree(path.join(dir, 'sub')), expectedTree(spec, 'sub'))
      const deeper = await untar(await d.request(`/api/v1/get/${sharded}/d`))
      assert.deepEqual(await readTree(path.join(deeper, 'd')), expectedTree(shardSpec, 'd'))
    })

    it('a single file: one entry named after it', async () => {
      const reply = await d.request(`/api/v1/get/${root}/sub/${encodeURIComponent(ODD)}?format=tar`)
      assert.match(String(reply.headers['content-disposition']), /filename\*=UTF-8''100%25%20%C3%A9%20%5Bx%5D\.txt\.tar$/)
      const dir = await untar(reply)
      assert.deepEqual(await fs.readdir(dir), [ODD])
      assert.equal(await fs.readFile(path.join(dir, ODD), 'utf8'), 'an odd name')
      const raw = await untar(await d.request(`/api/v1/get/${cids.get('a.txt') ?? ''}`))
      assert.equal(await fs.readFile(path.join(raw, cids.get('a.txt') ?? ''), 'utf8'), 'alpha\n')
    })

    it('a client that goes away mid-archive ends the walk; the daemon goes on serving', async () => {
      const large = await d.daemon.node.files.add((async function * () { yield crypto.randomBytes(8 * 1024 * 1024) })())
      const got = await new Promise<number>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port: d.port, path: `/api/v1/get/${large.cid}`, headers: { Authorization: `Bearer ${d.token}` } }, res => {
          assert.equal(res.statusCode, 200)
          res.once('data', (c: Buffer) => {
            req.destroy()
            resolve(c.length)
          })
        })
        req.on('error', () => {})
        req.on('close', () => { resolve(-1) })
        setTimeout(() => { reject(new Error('no bytes')) }, 10_000)
      })
      assert.ok(got > 0)
      // the node counts the user operations that repair yields to: the archive's must end
      const replicas = d.daemon.node.replicas as unknown as { userOps: number }
      await waitFor(() => replicas.userOps === 0, 'the archive\'s walk to end', 5000, 20)
      const again = await untar(await d.request(`/api/v1/get/${root}/a.txt`))
      assert.equal(await fs.readFile(path.join(again, 'a.txt'), 'utf8'), 'alpha\n')
    })

    it('answers 404 before any byte for a missing entry or root, 400 for another format or a malformed path', async () => {
      assertJsonError(await d.request(`/api/v1/get/${root}/nope?format=tar`), 404, 'ERR_PATH_NOT_FOUND')
      const nobody = 'bafkreiaqv66m5nd6mwgkk7h5lwqnjzj54s4f7knmnrjhf7ylzbbg3w6pni'
      assertJsonError(await d.request(`/api/v1/get/${nobody}?format=tar`), 404, 'ERR_BLOCK_NOT_FOUND')
      assertJsonError(await d.request(`/api/v1/get/${root}?format=zip`), 400, 'ERR_INVALID_ARGUMENT', /"format" "zip": must be one of tar/)
      assertJsonError(await d.request(`/api/v1/get/${root}/sub/../a.txt`), 400, 'ERR_INVALID_ARGUMENT')
    })
  })
})
