import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'
import { importDirectory, importFile, importSymlink, nullSink } from '../../src/content/importer.ts'
import type { DirectoryEntryInput } from '../../src/content/importer.ts'
import { parseRange } from '../../src/rpc/content-routes.ts'
import { assertJsonError, filesIn, memoryLogger, startTestDaemon } from '../helpers/daemon.ts'
import type { HttpReply, TestDaemon } from '../helpers/daemon.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'

const HELLO_V1 = 'bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq'
const HELLO_V0 = 'QmWfVY9y3xjsixTgbd9AorQxH7VtMpzfx2HaWtsoUYecaX'
const MIB = 1024 * 1024

/** 1 MiB where byte i is i % 251 (the issue's golden file). */
function pattern251 (): Uint8Array {
  const out = new Uint8Array(MIB)
  for (let i = 0; i < out.length; i++) out[i] = i % 251
  return out
}

/** A CID of bytes nobody stored. */
async function unknownCid (): Promise<string> {
  return (await importFile(crypto.randomBytes(64), nullSink)).cid.toString()
}

interface Part { path: string, content?: Uint8Array, type?: string }

/** A multipart/form-data body as the CLI sends it: filenames URL-encoded, directories typed. */
function multipart (parts: Part[]): { body: Buffer, contentType: string } {
  const boundary = `test-${crypto.randomBytes(8).toString('hex')}`
  const chunks: Buffer[] = []
  for (const p of parts) {
    const type = p.type ?? (p.content == null ? 'application/x-directory' : 'application/octet-stream')
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${encodeURIComponent(p.path)}"\r\nContent-Type: ${type}\r\n\r\n`))
    if (p.content != null) chunks.push(Buffer.from(p.content))
    chunks.push(Buffer.from('\r\n'))
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`))
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` }
}

describe('content routes', function () {
  this.timeout(30_000)
  let d: TestDaemon
  const log = memoryLogger()

  before(async () => { d = await startTestDaemon({ logger: log }) })
  after(async () => { await d?.stop() })

  const add = async (body: Uint8Array, query = ''): Promise<HttpReply> =>
    await d.request(`/api/v1/add${query === '' ? '' : `?${query}`}`, { method: 'POST', body, headers: { 'Content-Type': 'application/octet-stream' } })
  const addOk = async (body: Uint8Array, query = ''): Promise<{ cid: string, size: number, blocks: number }> => {
    const reply = await add(body, query)
    assert.equal(reply.status, 200, reply.body.toString())
    return reply.json
  }
  const cat = async (cid: string, headers: Record<string, string> = {}, query = ''): Promise<HttpReply> =>
    await d.request(`/api/v1/cat/${cid}${query === '' ? '' : `?${query}`}`, { headers })

  describe('POST /api/v1/add (raw body)', () => {
    it('answers JSON with the CID Kubo gives: "hello" with v1 defaults and with cid-version=0', async () => {
      const v1 = await add(Buffer.from('hello'))
      assert.equal(v1.status, 200, v1.body.toString())
      assert.match(String(v1.headers['content-type']), /^application\/json/)
      assert.equal(v1.json.cid, HELLO_V1)
      assert.equal(v1.json.size, 5)
      assert.equal(v1.json.blocks, 1)
      // one node, no peers: the quorum is met by this node alone
      assert.equal(v1.json.replication.short, 0)
      assert.equal(v1.json.replication.reachable, 1)
      assert.equal((await addOk(Buffer.from('hello'), 'cid-version=0')).cid, HELLO_V0)
    })

    it('gives the golden CIDs of the 1 MiB i % 251 file (v0 and v1)', async () => {
      const bytes = pattern251()
      assert.equal((await addOk(bytes, 'cid-version=0')).cid, 'QmXgkY4miMKJBrg8YYke4xw6C2n8WNsUc1GXLhN84k4QM3')
      const v1 = await addOk(bytes)
      assert.equal(v1.cid, 'bafybeiedpcapwld4tkgtzwahfofgn4wex5ryysf4se6hwpmlrsh4ntnrau')
      assert.equal(v1.size, MIB)
      assert.equal(v1.blocks, 5) // 4 leaves of 256 KiB and the root
    })

    it('pins what it added (pin=false does not), and the empty body is the empty file', async () => {
      const pinned = await addOk(crypto.randomBytes(1000))
      const unpinned = await addOk(crypto.randomBytes(1000), 'pin=false')
      const pins = (await d.rpc('pin.ls')).map((p: { cid: string }) => p.cid)
      assert.ok(pins.includes(pinned.cid))
      assert.ok(!pins.includes(unpinned.cid))
      const empty = await addOk(new Uint8Array(0), 'cid-version=0')
      assert.equal(empty.cid, 'QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH')
      assert.equal(empty.size, 0)
      const reply = await cat(empty.cid)
      assert.equal(reply.status, 200)
      assert.equal(reply.body.length, 0)
    })

    it('takes chunker, raw-leaves and the streamed body of a request with no Content-Length', async () => {
      const bytes = crypto.randomBytes(300_000)
      const local = await importFile(bytes, nullSink, { chunker: 'size-65536', cidVersion: 0, rawLeaves: true })
      async function * pieces (): AsyncGenerator<Uint8Array> {
        for (let i = 0; i < bytes.length; i += 7000) yield bytes.subarray(i, i + 7000)
      }
      const reply = await d.request('/api/v1/add?chunker=size-65536&cid-version=0&raw-leaves=true', { method: 'POST', body: pieces() })
      assert.equal(reply.status, 200, reply.body.toString())
      assert.equal(reply.json.cid, local.cid.toString())
      assert.equal(reply.json.blocks, local.blocks) // 5 leaves and the root, all distinct
    })
  })

  describe('POST /api/v1/add?progress=true (NDJSON)', () => {
    const lines = (reply: HttpReply): Array<{ type: string, detail: any }> => reply.body.toString().trim().split('\n').map(l => JSON.parse(l))

    it('streams progress events while the upload goes on, then the same answer as without progress', async () => {
      const bytes = crypto.randomBytes(3 * 1024 * 1024 + 5)
      async function * slowly (): AsyncGenerator<Uint8Array> {
        // slower than the 100 ms between progress lines, so that several come
        for (let i = 0; i < bytes.length; i += 512 * 1024) {
          yield bytes.subarray(i, i + 512 * 1024)
          await new Promise(resolve => setTimeout(resolve, 60))
        }
      }
      const reply = await d.request('/api/v1/add?progress=true', { method: 'POST', body: slowly() })
      assert.equal(reply.status, 200)
      assert.equal(reply.headers['content-type'], 'application/x-ndjson')
      const events = lines(reply)
      const last = events.at(-1)
      assert.equal(last?.type, 'result')
      assert.equal(last?.detail.cid, (await importFile(bytes, nullSink)).cid.toString())
      const read = events.filter(e => e.type === 'import:read').map(e => e.detail.bytes)
      assert.ok(read.length >= 3, `${read.length} import:read lines`)
      assert.deepEqual(read, [...read].sort((a, b) => a - b))
      assert.equal(read.at(-1), bytes.length, 'the last read count is the whole file')
      const stored = events.filter(e => e.type === 'add:stored').map(e => e.detail)
      assert.equal(stored.at(-1).blocks, last?.detail.blocks)
      // alone with k = 1: every block's one copy is this node's
      const confirmed = events.filter(e => e.type === 'replicate:confirmed').at(-1)?.detail
      assert.deepEqual(confirmed, { confirmed: last?.detail.blocks, wanted: last?.detail.blocks })
      assert.deepEqual(Object.keys(last?.detail).sort(), Object.keys(await addOk(bytes)).sort())
    })

    it('a failure is the last line (status 200 already sent), with the code and details the JSON error has', async () => {
      const quorum = await add(crypto.randomBytes(1000), 'progress=true&replicas=3&quorum=2')
      assert.equal(quorum.status, 200)
      const last = lines(quorum).at(-1)
      assert.equal(last?.type, 'error')
      assert.equal(last?.detail.code, 'ERR_QUORUM')
      assert.match(last?.detail.message, /quorum|copies/)
      assert.ok(last?.detail.details != null)
      // a bad query is refused before any line: a 400 JSON error as always
      const bad = await add(crypto.randomBytes(10), 'progress=maybe')
      assert.equal(bad.status, 400)
      assert.equal(bad.json.error.code, 'ERR_INVALID_ARGUMENT')
    })
  })

  describe('GET /api/v1/cat/CID', () => {
    let bytes: Buffer
    let cid: string

    before(async () => {
      bytes = crypto.randomBytes(3 * MIB + 12345)
      cid = (await addOk(bytes)).cid
    })

    it('streams the file back byte for byte, with its length', async () => {
      const reply = await cat(cid)
      assert.equal(reply.status, 200)
      assert.equal(reply.headers['content-type'], 'application/octet-stream')
      assert.equal(reply.headers['content-length'], String(bytes.length))
      assert.equal(reply.headers['accept-ranges'], 'bytes')
      assert.ok(reply.body.equals(bytes), 'the bytes differ')
    })

    it('answers Range with 206 and Content-Range, across chunk boundaries', async () => {
      const cases: Array<[string, number, number]> = [
        ['bytes=100-199', 100, 199],
        ['bytes=262000-262300', 262000, 262300], // spans the first leaf boundary (262144)
        ['bytes=0-', 0, bytes.length - 1],
        [`bytes=${bytes.length - 10}-${bytes.length + 1000}`, bytes.length - 10, bytes.length - 1], // end clamped
        ['bytes=-500', bytes.length - 500, bytes.length - 1], // suffix
        [`bytes=-${bytes.length * 2}`, 0, bytes.length - 1] // suffix longer than the file: all of it
      ]
      for (const [range, first, last] of cases) {
        const reply = await cat(cid, { Range: range })
        assert.equal(reply.status, 206, range)
        assert.equal(reply.headers['content-range'], `bytes ${first}-${last}/${bytes.length}`, range)
        assert.equal(reply.headers['content-length'], String(last - first + 1), range)
        assert.ok(reply.body.equals(bytes.subarray(first, last + 1)), `the bytes of ${range} differ`)
      }
    })

    it('answers 416 with "bytes */SIZE" for a range it cannot satisfy', async () => {
      for (const range of [`bytes=${bytes.length}-`, `bytes=${bytes.length + 5}-${bytes.length + 10}`, 'bytes=-0']) {
        const reply = await cat(cid, { Range: range })
        assert.equal(reply.status, 416, range)
        assert.equal(reply.headers['content-range'], `bytes */${bytes.length}`, range)
      }
    })

    it('ignores a Range header it cannot parse (RFC 9110) and sends the whole file', async () => {
      for (const range of ['items=0-5', 'bytes=0-1,5-6', 'bytes=5-2', 'bytes=abc']) {
        const reply = await cat(cid, { Range: range })
        assert.equal(reply.status, 200, range)
        assert.equal(reply.body.length, bytes.length, range)
      }
    })

    it('takes offset and length in the query (clamped to the file)', async () => {
      const mid = await cat(cid, {}, 'offset=1000000&length=300000')
      assert.equal(mid.status, 200)
      assert.ok(mid.body.equals(bytes.subarray(1_000_000, 1_300_000)))
      const tail = await cat(cid, {}, `offset=${bytes.length - 7}`)
      assert.ok(tail.body.equals(bytes.subarray(bytes.length - 7)))
      const past = await cat(cid, {}, `offset=${bytes.length + 10}&length=5`)
      assert.equal(past.status, 200)
      assert.equal(past.body.length, 0)
      const long = await cat(cid, {}, 'offset=5&length=999999999999')
      assert.ok(long.body.equals(bytes.subarray(5)))
      for (const bad of ['offset=-1', 'offset=x', 'length=1.5']) assertJsonError(await cat(cid, {}, bad), 400, 'ERR_INVALID_ARGUMENT')
    })

    it('a CIDv0 and its v1 form give the same bytes', async () => {
      const v0 = (await addOk(Buffer.from('hello'), 'cid-version=0')).cid
      assert.equal((await cat(v0)).body.toString(), 'hello')
      assert.equal((await cat(HELLO_V1)).body.toString(), 'hello')
    })
  })

  describe('POST /api/v1/add (multipart directory)', () => {
    let dir: string
    let cleanup: () => Promise<void>
    before(async () => { ({ dir, cleanup } = await tempDir('shoal-tree-')) })
    after(async () => { await cleanup() })

    const tree: Part[] = [
      { path: 'a.txt', content: Buffer.from('alpha\n') },
      { path: 'empty', content: undefined },
      { path: 'sub', content: undefined },
      { path: 'sub/b.bin', content: crypto.randomBytes(600_000) },
      { path: 'sub/deeper', content: undefined },
      { path: 'sub/deeper/c d%.txt', content: Buffer.from('a name with a space and a percent sign') },
      { path: 'sub/zero', content: new Uint8Array(0) }
    ]

    it('imports the tree with the CID the importer gives; content.ls and cat recreate it', async () => {
      const { body, contentType } = multipart(tree)
      const reply = await d.request('/api/v1/add', { method: 'POST', body, headers: { 'Content-Type': contentType } })
      assert.equal(reply.status, 200, reply.body.toString())
      const expected = await importDirectory(tree.map((p): DirectoryEntryInput => ({ path: p.path, content: p.content == null ? undefined : [p.content] })), nullSink)
      assert.equal(reply.json.cid, expected.cid.toString())
      assert.ok((await d.rpc('pin.ls')).some((p: { cid: string }) => p.cid === reply.json.cid), 'the root is pinned')

      const root = await d.rpc('content.ls', { cid: reply.json.cid })
      assert.deepEqual(root.map((e: { name: string, type: string }) => `${e.name}:${e.type}`), ['a.txt:raw', 'empty:directory', 'sub:directory'])

      // recreate the tree on disk from content.ls and cat, as `shoal get` does
      const out = path.join(dir, 'out')
      const recreate = async (cid: string, target: string): Promise<void> => {
        await fs.mkdir(target, { recursive: true })
        for (const e of await d.rpc('content.ls', { cid })) {
          if (e.type === 'directory') await recreate(e.cid, path.join(target, e.name))
          else {
            const bytes = await cat(e.cid)
            assert.equal(bytes.status, 200)
            await fs.writeFile(path.join(target, e.name), bytes.body)
          }
        }
      }
      await recreate(reply.json.cid, out)
      for (const p of tree) {
        const stat = await fs.stat(path.join(out, p.path))
        if (p.content == null) assert.ok(stat.isDirectory(), p.path)
        else assert.ok((await fs.readFile(path.join(out, p.path))).equals(Buffer.from(p.content)), p.path)
      }
    })

    it('a malformed multipart body is a 400 with a one-line message, not a hang or a 500, and nothing is pinned', async () => {
      const pins = await d.rpc('pin.ls')
      const cases: Array<[string, string, string]> = [
        ['no closing boundary', 'multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nno closing boundary'],
        ['no boundary at all', 'multipart/form-data', '--x\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nx\r\n--x--\r\n'],
        ['an empty boundary', 'multipart/form-data; boundary=', '--\r\n'],
        ['garbage', 'multipart/form-data; boundary=x', 'this is not multipart at all'],
        ['an empty body', 'multipart/form-data; boundary=x', ''],
        ['a part with no headers', 'multipart/form-data; boundary=x', '--x\r\n\r\nbody\r\n--x--\r\n'],
        ['a part header cut short', 'multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-da']
      ]
      for (const [what, contentType, body] of cases) {
        const reply = await d.request('/api/v1/add', { method: 'POST', body: Buffer.from(body), headers: { 'Content-Type': contentType } })
        assertJsonError(reply, 400, 'ERR_INVALID_ARGUMENT')
        assert.match(reply.json.error.message, /^Malformed multipart upload: [^\n]+$/, what)
      }
      assert.deepEqual(await d.rpc('pin.ls'), pins)
    })

    it('an unsafe path in the upload is a 400', async () => {
      for (const bad of ['../escape', '/abs', 'a/../../b']) {
        const { body, contentType } = multipart([{ path: bad, content: Buffer.from('x') }])
        const reply = await d.request('/api/v1/add', { method: 'POST', body, headers: { 'Content-Type': contentType } })
        assertJsonError(reply, 400, 'ERR_INVALID_ARGUMENT')
      }
    })
  })

  describe('errors', () => {
    it('every route needs the token (401), like /rpc, and an unauthorised add stores nothing', async () => {
      const before = await d.rpc('repo.stat')
      const pins = await d.rpc('pin.ls')
      const body = crypto.randomBytes(100_000)
      for (const token of [null, 'wrong', `${d.token}x`]) {
        const adding = await d.request('/api/v1/add', { method: 'POST', body, token })
        assert.equal(adding.status, 401, `add with token ${String(token)}`)
        assert.match(String(adding.headers['www-authenticate']), /^Bearer/)
        assert.equal((await d.request(`/api/v1/cat/${HELLO_V1}`, { token })).status, 401)
        assert.equal((await d.request('/rpc', { method: 'POST', token, body: Buffer.from('{}') })).status, 401)
      }
      assert.deepEqual(await d.rpc('pin.ls'), pins)
      assert.equal((await d.rpc('repo.stat')).blocks, before.blocks)
    })

    it('bad query values are 400 JSON errors, answered even with a body in flight', async () => {
      const body = crypto.randomBytes(2 * MIB)
      const pins = await d.rpc('pin.ls')
      for (const query of ['cid-version=2', 'cid-version=one', 'chunker=nope', 'chunker=size-0', 'replicas=0', 'replicas=65', 'quorum=0', 'pin=maybe', 'raw-leaves=yes']) {
        const reply = await add(body, query)
        assertJsonError(reply, 400, 'ERR_INVALID_ARGUMENT')
        const name = query.split('=')[0]
        assert.ok(reply.json.error.message.includes(name === 'chunker' ? 'chunker' : `"${name}"`), reply.json.error.message)
      }
      // a body larger than what the daemon reads and drops after refusing it: the answer still arrives
      const large = await add(crypto.randomBytes(24 * MIB), 'cid-version=2')
      assertJsonError(large, 400, 'ERR_INVALID_ARGUMENT')
      assert.equal(large.headers.connection, 'close', 'a connection with an unread body is not reused')
      assert.deepEqual(await d.rpc('pin.ls'), pins)
    })

    it('a CID not stored is a 404 ERR_BLOCK_NOT_FOUND, answered fast with no peers (cat, content.stat, content.ls, pin.add)', async () => {
      const missing = await unknownCid()
      const started = Date.now()
      assertJsonError(await cat(missing), 404, 'ERR_BLOCK_NOT_FOUND')
      for (const method of ['content.stat', 'content.ls', 'pin.add']) {
        await assert.rejects(d.rpc(method, { cid: missing }), (err: any) => {
          assert.equal(err.rpcCode, -32000, method)
          assert.equal(err.data?.code, 'ERR_BLOCK_NOT_FOUND', method)
          return true
        })
      }
      assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`)
    })

    it('a string that is not a CID is a 400 ERR_INVALID_CID (route and methods)', async () => {
      assertJsonError(await cat('not-a-cid'), 400, 'ERR_INVALID_CID')
      assertJsonError(await cat('Qm'), 400, 'ERR_INVALID_CID')
      for (const method of ['content.stat', 'content.ls', 'pin.add', 'pin.rm']) {
        await assert.rejects(d.rpc(method, { cid: 'zzz' }), (err: any) => {
          assert.equal(err.data?.code, 'ERR_INVALID_CID', method)
          return true
        })
      }
    })

    it('cat of a directory is a 400 that says so', async () => {
      const { body, contentType } = multipart([{ path: 'x/y.txt', content: Buffer.from('y') }])
      const dirCid = (await d.request('/api/v1/add', { method: 'POST', body, headers: { 'Content-Type': contentType } })).json.cid
      const reply = await cat(dirCid)
      assertJsonError(reply, 400, 'ERR_INVALID_ARGUMENT')
      assert.match(reply.json.error.message, /directory/)
    })

    it('wrong methods and unknown paths: 405 with Allow, 404', async () => {
      const get = await d.request('/api/v1/add')
      assert.equal(get.status, 405)
      assert.equal(get.headers.allow, 'POST')
      assert.equal((await d.request(`/api/v1/cat/${HELLO_V1}`, { method: 'POST', body: Buffer.from('x') })).status, 405)
      assert.equal((await d.request('/api/v1/nope')).status, 404)
    })
  })

  describe('parseRange', () => {
    it('reads the three forms and refuses what cannot be satisfied', () => {
      assert.deepEqual(parseRange('bytes=0-9', 100), { offset: 0, length: 10 })
      assert.deepEqual(parseRange('bytes=90-', 100), { offset: 90, length: 10 })
      assert.deepEqual(parseRange('bytes=-10', 100), { offset: 90, length: 10 })
      assert.deepEqual(parseRange('bytes=50-1000', 100), { offset: 50, length: 50 })
      assert.equal(parseRange('bytes=100-', 100), 'unsatisfiable')
      assert.equal(parseRange('bytes=-0', 100), 'unsatisfiable')
      assert.equal(parseRange('bytes=0-', 0), 'unsatisfiable')
      assert.equal(parseRange('bytes=5-2', 100), 'invalid')
      assert.equal(parseRange('bytes=0-1,3-4', 100), 'invalid')
      assert.equal(parseRange('lines=1-2', 100), 'invalid')
    })
  })
})

describe('content routes: symlinks, every entry of a tree, pin.ls by type (Kubo)', function () {
  this.timeout(30_000)
  let d: TestDaemon

  before(async () => { d = await startTestDaemon() })
  after(async () => { await d?.stop() })

  const upload = async (body: Buffer, contentType: string, query = ''): Promise<HttpReply> =>
    await d.request(`/api/v1/add${query}`, { method: 'POST', headers: { 'Content-Type': contentType }, body })
  const link = (path: string, target: string): Part => ({ path, content: Buffer.from(target), type: 'application/symlink' })

  it('a multipart tree carries symlinks (application/symlink parts); the answer lists every entry in Kubo\'s order', async () => {
    const parts: Part[] = [
      { path: 'd' },
      { path: 'd/x.txt', content: Buffer.from('x') },
      link('d/to-x', 'x.txt'),
      link('up', '../../etc'),
      { path: 'z.txt', content: Buffer.from('z') }
    ]
    const { body, contentType } = multipart(parts)
    const reply = await upload(body, contentType)
    assert.equal(reply.status, 200, reply.body.toString())
    const expected = await importDirectory([
      { path: 'd' },
      { path: 'd/x.txt', content: [Buffer.from('x')] },
      { path: 'd/to-x', target: 'x.txt' },
      { path: 'up', target: '../../etc' },
      { path: 'z.txt', content: [Buffer.from('z')] }
    ], nullSink)
    assert.equal(reply.json.cid, expected.cid.toString())
    assert.deepEqual(reply.json.entries.map((e: { path: string, type: string }) => `${e.type} ${e.path}`),
      ['file d/x.txt', 'symlink d/to-x', 'symlink up', 'file z.txt', 'directory d'])
    assert.deepEqual(reply.json.entries.map((e: { cid: string }) => e.cid), expected.entries.map(e => e.cid.toString()))
    const up = reply.json.entries.find((e: { path: string }) => e.path === 'up')
    const stat = await d.rpc('content.stat', { cid: up.cid, replicas: false })
    assert.equal(stat.type, 'symlink')
    assert.equal(stat.target, '../../etc')
  })

  it('a raw body of type application/symlink is one symlink node (the link itself)', async () => {
    const v0 = await upload(Buffer.from('some/where'), 'application/symlink', '?cid-version=0')
    assert.equal(v0.status, 200, v0.body.toString())
    assert.equal(v0.json.cid, (await importSymlink('some/where', nullSink, { cidVersion: 0 })).cid.toString())
    const reply = await upload(Buffer.from('some/where'), 'application/symlink')
    assert.equal(reply.json.cid, (await importSymlink('some/where', nullSink)).cid.toString())
    assert.equal(reply.json.entries, undefined)
    assert.ok((await d.rpc('pin.ls')).some((p: { cid: string }) => p.cid === reply.json.cid), 'pinned')
  })

  it('a symlink target that is empty, has a NUL or is over 4096 bytes is a 400 and nothing is pinned', async () => {
    const pinsBefore = await d.rpc('pin.ls')
    for (const target of ['', 'a\0b', 'x'.repeat(4097)]) {
      const { body, contentType } = multipart([{ path: 'f', content: Buffer.from('f') }, link('bad', target)])
      assertJsonError(await upload(body, contentType), 400, 'ERR_INVALID_ARGUMENT')
      assertJsonError(await upload(Buffer.from(target), 'application/symlink'), 400, 'ERR_INVALID_ARGUMENT')
    }
    assert.deepEqual(await d.rpc('pin.ls'), pinsBefore)
  })

  it('pin.ls {type, cid}: roots by type, indirect blocks with their root, one CID; errors for a bad type or an unpinned CID', async () => {
    const add = await upload(Buffer.from(crypto.randomBytes(300_000)), 'application/octet-stream')
    const root = add.json.cid as string
    const indirect = await d.rpc('pin.ls', { type: 'indirect' })
    const mine = indirect.filter((p: { through: string }) => p.through === root)
    assert.equal(mine.length, 2)
    for (const p of mine) assert.equal(p.mode, 'indirect')
    assert.deepEqual(await d.rpc('pin.ls', { cid: mine[0].cid }), [{ cid: mine[0].cid, mode: 'indirect', through: root }])
    assert.deepEqual((await d.rpc('pin.ls', { cid: root })).map((p: { mode: string }) => p.mode), ['recursive'])
    assert.ok((await d.rpc('pin.ls', { type: 'recursive' })).every((p: { mode: string }) => p.mode === 'recursive'))
    assert.deepEqual(await d.rpc('pin.ls', { type: 'direct' }), [])
    const all = await d.rpc('pin.ls', { type: 'all' })
    assert.equal(all.length, (await d.rpc('pin.ls')).length + indirect.length)
    // the method table's schema refuses it before the node sees it
    await assert.rejects(d.rpc('pin.ls', { type: 'sideways' }), (err: { rpcCode?: number, message: string }) => err.rpcCode === -32602 && /"type" must be one of recursive, direct, indirect, all/.test(err.message))
    await assert.rejects(d.rpc('pin.ls', { cid: await unknownCid() }), (err: { data?: { code?: string } }) => err.data?.code === 'ERR_NOT_PINNED')
    await assert.rejects(d.rpc('pin.ls', { cid: root, type: 'direct' }), (err: { data?: { code?: string } }) => err.data?.code === 'ERR_NOT_PINNED')
  })
})

describe('content routes: pin.*, repo.gc and repo.stat over JSON-RPC', function () {
  this.timeout(30_000)
  let d: TestDaemon

  before(async () => { d = await startTestDaemon() })
  after(async () => { await d?.stop() })

  const addBytes = async (bytes: Uint8Array, query = ''): Promise<{ cid: string, blocks: number }> => {
    const reply = await d.request(`/api/v1/add${query}`, { method: 'POST', body: bytes })
    assert.equal(reply.status, 200, reply.body.toString())
    return reply.json
  }

  it('repo.stat counts what adds store; gc frees the unpinned add and keeps the pinned one; pin.add/rm/ls follow', async () => {
    const empty = await d.rpc('repo.stat')
    assert.deepEqual([empty.blocks, empty.bytes, empty.pins], [0, 0, 0])
    assert.ok(empty.freeBytes > 0 && empty.totalBytes >= empty.freeBytes)

    const kept = crypto.randomBytes(2 * 262144 + 100) // 3 leaves and a root
    const dropped = crypto.randomBytes(262144 + 1) // 2 leaves and a root
    const a = await addBytes(kept)
    const b = await addBytes(dropped, '?pin=false')
    const stat = await d.rpc('repo.stat')
    assert.equal(stat.blocks, a.blocks + b.blocks)
    assert.ok(stat.bytes > kept.length + dropped.length && stat.bytes < kept.length + dropped.length + 2000, String(stat.bytes))
    assert.equal(stat.pins, 1)
    const pins = await d.rpc('pin.ls')
    assert.equal(pins.length, 1)
    assert.equal(pins[0].cid, a.cid)
    assert.equal(pins[0].mode, 'recursive')
    assert.equal(pins[0].blocks, 4)
    assert.ok(!Number.isNaN(Date.parse(pins[0].created)))

    const gc = await d.rpc('repo.gc')
    assert.equal(gc.removedBlocks, b.blocks)
    assert.ok(gc.freedBytes > dropped.length)
    assert.equal((await d.rpc('repo.stat')).blocks, a.blocks)
    assert.ok((await d.request(`/api/v1/cat/${a.cid}`)).body.equals(kept))
    assert.equal((await d.request(`/api/v1/cat/${b.cid}`)).status, 404)

    // pin.rm (positional params too), then gc takes it all; pin.add of what is gone fails and pins nothing
    assert.deepEqual(await d.rpc('pin.rm', [a.cid]), { cid: a.cid })
    assert.deepEqual(await d.rpc('pin.ls'), [])
    await assert.rejects(d.rpc('pin.rm', { cid: a.cid }), (err: any) => err.rpcCode === -32000 && err.data?.code === 'ERR_NOT_PINNED')
    assert.equal((await d.rpc('repo.gc')).removedBlocks, a.blocks)
    // the disk's free bytes move with whatever else writes to it: the rest must be as before
    assert.deepEqual({ ...await d.rpc('repo.stat'), freeBytes: empty.freeBytes }, empty)
    await assert.rejects(d.rpc('pin.add', { cid: a.cid }), (err: any) => err.data?.code === 'ERR_BLOCK_NOT_FOUND')
    assert.deepEqual(await d.rpc('pin.ls'), [])

    // pin.add of an unpinned add, then a direct pin of another root
    const c = await addBytes(crypto.randomBytes(1000), '?pin=false')
    assert.deepEqual(await d.rpc('pin.add', { cid: c.cid }), { cid: c.cid, blocks: 1, bytes: 1000 })
    const e = await addBytes(crypto.randomBytes(262144 * 2), '?pin=false')
    const direct = await d.rpc('pin.add', { cid: e.cid, recursive: false })
    assert.equal(direct.blocks, 1)
    assert.deepEqual((await d.rpc('pin.ls')).map((p: { cid: string, mode: string }) => [p.cid, p.mode]).sort(), [[c.cid, 'recursive'], [e.cid, 'direct']].sort())
    assert.equal((await d.rpc('repo.gc')).removedBlocks, 2, 'the leaves of the directly pinned root go')
  })

  it('bad params are -32602', async () => {
    for (const [method, params] of [['pin.add', {}], ['pin.add', { cid: 5 }], ['pin.add', { cid: HELLO_V1, recursive: 'yes' }], ['pin.rm', { cid: '' }], ['pin.ls', { x: 1 }], ['repo.gc', [1]], ['repo.stat', { a: 1 }], ['content.stat', { cid: HELLO_V1, nope: true }]] as const) {
      await assert.rejects(d.rpc(method, params), (err: any) => {
        assert.equal(err.rpcCode, -32602, `${method} ${JSON.stringify(params)}: ${err.message}`)
        return true
      })
    }
  })
})

describe('content routes: a client that disconnects mid-upload', function () {
  this.timeout(30_000)
  let d: TestDaemon
  const log = memoryLogger()

  before(async () => { d = await startTestDaemon({ logger: log }) })
  after(async () => { await d?.stop() })

  for (const kind of ['raw', 'multipart'] as const) {
    it(`${kind}: nothing is pinned, no temp files are left, the write session ends, and the daemon serves the next add`, async () => {
      const pinsBefore = await d.rpc('pin.ls')
      const blocksBefore = (await d.rpc('repo.stat')).blocks
      const total = 20 * MIB
      const boundary = 'cut-off-boundary'
      const head = kind === 'raw'
        ? Buffer.alloc(0)
        : Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`)
      const req = http.request({
        host: '127.0.0.1',
        port: d.port,
        method: 'POST',
        path: '/api/v1/add',
        headers: {
          Authorization: `Bearer ${d.token}`,
          'Content-Type': kind === 'raw' ? 'application/octet-stream' : `multipart/form-data; boundary=${boundary}`,
          'Content-Length': String(head.length + total)
        }
      })
      let answered = false
      req.on('response', () => { answered = true })
      req.on('error', () => {})
      req.write(head)
      for (let sent = 0; sent < total / 2; sent += MIB) {
        if (!req.write(crypto.randomBytes(MIB))) await new Promise(resolve => req.once('drain', resolve))
      }
      // let the daemon import (and write blocks for) some of it
      await waitFor(async () => (await d.rpc('repo.stat')).blocks > blocksBefore + 4, 'blocks to be written', 10_000, 20)
      const cutLines = log.lines.filter(l => l.includes('cut off')).length
      req.destroy()
      await waitFor(() => log.lines.filter(l => l.includes('cut off')).length > cutLines, 'the daemon to notice the cut', 10_000, 20)
      assert.equal(answered, false)

      assert.deepEqual(await d.rpc('pin.ls'), pinsBefore)
      assert.deepEqual(await filesIn(path.join(d.repo, 'tmp')), [])
      // the add's write session ended: GC (which waits for sessions) runs now and removes what the cut add wrote
      const gc = await Promise.race([
        d.rpc('repo.gc'),
        new Promise((_resolve, reject) => setTimeout(() => { reject(new Error('repo.gc waited: the cut add still holds its write session')) }, 5000))
      ]) as { removedBlocks: number }
      assert.ok(gc.removedBlocks > 0, 'the blocks of the cut add were unpinned and collected')

      const bytes = crypto.randomBytes(2 * MIB)
      const reply = await d.request('/api/v1/add', { method: 'POST', body: bytes })
      assert.equal(reply.status, 200, reply.body.toString())
      assert.ok((await d.request(`/api/v1/cat/${reply.json.cid}`)).body.equals(bytes))
    })
  }
})

describe('content routes: a full disk (a real tmpfs as the repo)', function () {
  this.timeout(30_000)
  let mountPoint: string | undefined
  let d: TestDaemon | undefined

  before(async function () {
    if (process.platform !== 'linux') this.skip()
    const { dir } = await tempDir('shoal-full-')
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir], { stdio: 'ignore' })
      mountPoint = dir
    } catch {
      await fs.rm(dir, { recursive: true, force: true })
      this.skip() // mounting needs root (CAP_SYS_ADMIN)
    }
  })

  after(async () => {
    await d?.stop()
    if (mountPoint == null) return
    execFileSync('umount', [mountPoint])
    await fs.rmdir(mountPoint)
  })

  it('the add fails with 507 ERR_DISK_FULL, nothing is pinned, and the daemon keeps serving (gc makes room again)', async () => {
    const repo = path.join(mountPoint as string, 'repo')
    d = await startTestDaemon({ repo })
    const small = crypto.randomBytes(100_000)
    const first = await d.request('/api/v1/add', { method: 'POST', body: small })
    assert.equal(first.status, 200, first.body.toString())
    const pinsBefore = await d.rpc('pin.ls')

    const reply = await d.request('/api/v1/add', { method: 'POST', body: crypto.randomBytes(16 * MIB) })
    assertJsonError(reply, 507, 'ERR_DISK_FULL')
    assert.match(reply.json.error.message, /disk is full/)

    assert.deepEqual(await d.rpc('pin.ls'), pinsBefore)
    assert.deepEqual(await filesIn(path.join(repo, 'tmp')), [])
    // still serving: reads, stats, and after gc a new add
    assert.ok((await d.request(`/api/v1/cat/${first.json.cid}`)).body.equals(small))
    const stat = await d.rpc('repo.stat')
    assert.ok(stat.freeBytes < MIB, `free ${stat.freeBytes}`)
    const gc = await d.rpc('repo.gc')
    assert.ok(gc.removedBlocks > 0)
    const again = crypto.randomBytes(1 * MIB)
    const after = await d.request('/api/v1/add', { method: 'POST', body: again })
    assert.equal(after.status, 200, after.body.toString())
    assert.ok((await d.request(`/api/v1/cat/${after.json.cid}`)).body.equals(again))
  })
})
