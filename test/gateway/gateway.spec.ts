import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { fallbackRouter } from '@helia/fallback-router'
import { trustlessGatewayBlockBroker } from '@helia/trustless-gateway-client'
import { createVerifiedFetchWithHelia } from '@helia/verified-fetch'
import { createHeliaLight } from 'helia'
import { CarBlockIterator } from '@ipld/car'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { importFile, nullSink } from '../../src/content/importer.ts'
import { startGateway } from '../../src/gateway/gateway.ts'
import type { GatewaySource } from '../../src/gateway/gateway.ts'
import { contentTypeOf, responseFormat } from '../../src/gateway/media.ts'
import { httpRequest, startTestDaemon } from '../helpers/daemon.ts'
import type { HttpReply, TestDaemon } from '../helpers/daemon.ts'

const KIB = 1024

/** Bytes where byte i is i % 251: a file of several 256 KiB chunks whose every range is checkable. */
function pattern (size: number): Buffer {
  const out = Buffer.alloc(size)
  for (let i = 0; i < size; i++) out[i] = i % 251
  return out
}

describe('gateway', function () {
  let d: TestDaemon
  let gw: number
  let bigFile: string
  let dir: string
  let site: string
  const big = pattern(700 * KIB)
  const get = async (path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<HttpReply> => await httpRequest(gw, path, { headers, method, token: null })

  before(async function () {
    d = await startTestDaemon({ config: { gateway: '127.0.0.1:0' } })
    assert.ok(d.daemon.gatewayAddress != null)
    gw = Number(d.daemon.gatewayAddress.split(':').at(-1))
    bigFile = (await d.request('/api/v1/add', { method: 'POST', body: big })).json.cid
    dir = await addTree(d, [
      { path: 'readme.md', content: Buffer.from('# hello\n') },
      { path: '<b>&"odd".txt', content: Buffer.from('odd name') },
      { path: 'sub' },
      { path: 'sub/data.bin', content: Buffer.from([0, 1, 2, 3, 0, 255]) },
      { path: 'noext', content: Buffer.from('<!doctype html><p>sniffed</p>') }
    ])
    site = await addTree(d, [
      { path: 'index.html', content: Buffer.from('<html><body>home</body></html>') },
      { path: 'a.css', content: Buffer.from('body{}') }
    ])
  })

  after(async function () {
    await d?.stop()
  })

  describe('trustless responses', function () {
    it('a raw block: its exact bytes (which hash to the CID), typed, attachment, immutable, ETag', async () => {
      const r = await get(`/ipfs/${bigFile}`, { Accept: 'application/vnd.ipld.raw' })
      assert.equal(r.status, 200, r.body.toString())
      assert.equal(r.headers['content-type'], 'application/vnd.ipld.raw')
      assert.match(String(r.headers['content-disposition']), new RegExp(`^attachment; filename="${bigFile}.bin"`))
      assert.equal(r.headers['x-content-type-options'], 'nosniff')
      assert.equal(r.headers.etag, `"${bigFile}.raw"`)
      assert.match(String(r.headers['cache-control']), /immutable/)
      const cid = CID.parse(bigFile)
      assert.deepEqual((await sha256.digest(r.body)).bytes, cid.multihash.bytes)
      // ?format=raw is the same, and wins over Accept
      const q = await get(`/ipfs/${bigFile}?format=raw`, { Accept: 'text/html' })
      assert.equal(q.status, 200)
      assert.deepEqual(q.body, r.body)
    })

    it('a raw block takes no path; HEAD has the headers and no body; If-None-Match answers 304', async () => {
      const withPath = await get(`/ipfs/${dir}/readme.md?format=raw`)
      assert.equal(withPath.status, 400, withPath.body.toString())
      assert.match(withPath.body.toString(), /takes no path/)
      const head = await get(`/ipfs/${bigFile}?format=raw`, {}, 'HEAD')
      assert.equal(head.status, 200)
      assert.equal(head.body.length, 0)
      assert.ok(Number(head.headers['content-length']) > 0)
      const again = await get(`/ipfs/${bigFile}?format=raw`, { 'If-None-Match': `"${bigFile}.raw"` })
      assert.equal(again.status, 304)
      assert.equal(again.body.length, 0)
    })

    it('the probe path: the identity CID bafkqaaa is an empty block, without any fetch', async () => {
      const r = await get('/ipfs/bafkqaaa?format=raw')
      assert.equal(r.status, 200, r.body.toString())
      assert.equal(r.body.length, 0)
    })

    it('a CID nobody stored is 404; a malformed CID or path is 400; a CAR of version 2 only is 406', async () => {
      const missing = (await importFile(crypto.randomBytes(64), nullSink)).cid.toString()
      assert.equal((await get(`/ipfs/${missing}?format=raw`)).status, 404)
      assert.equal((await get(`/ipfs/${missing}`)).status, 404)
      assert.equal((await get('/ipfs/not-a-cid')).status, 400)
      assert.equal((await get(`/ipfs/${dir}/%E0%A4%A`)).status, 400)
      assert.equal((await get(`/ipfs/${dir}/sub%2Fdata.bin`)).status, 400)
      assert.equal((await get(`/ipfs/${dir}/nope.txt`)).status, 404)
      assert.equal((await get(`/ipfs/${bigFile}`, { Accept: 'application/vnd.ipld.car; version=2' })).status, 406)
      assert.equal((await get(`/ipfs/${bigFile}?format=dag-json`)).status, 406)
    })
  })

  describe('CAR responses', function () {
    /** The CAR's roots and blocks, each checked against its CID. */
    async function readCarReply (r: HttpReply): Promise<{ roots: string[], blocks: string[] }> {
      assert.equal(r.status, 200, r.body.toString())
      assert.equal(r.headers['content-type'], 'application/vnd.ipld.car; version=1; order=dfs; dups=n')
      const reader = await CarBlockIterator.fromBytes(r.body)
      const blocks: string[] = []
      for await (const { cid, bytes } of reader) {
        assert.deepEqual((await sha256.digest(bytes)).bytes, cid.multihash.bytes, `block ${cid} matches its CID`)
        blocks.push(cid.toString())
      }
      return { roots: (await reader.getRoots()).map(String), blocks }
    }

    it('the whole DAG, each block once, root first; ETag and attachment', async () => {
      const r = await get(`/ipfs/${bigFile}`, { Accept: 'application/vnd.ipld.car' })
      const { roots, blocks } = await readCarReply(r)
      assert.deepEqual(roots, [bigFile])
      assert.equal(blocks[0], bigFile)
      assert.equal(blocks.length, 1 + Math.ceil(big.length / (256 * KIB)))
      assert.equal(new Set(blocks).size, blocks.length)
      assert.match(String(r.headers.etag), new RegExp(`^W/"${bigFile}\\.car\\.`))
      assert.match(String(r.headers['content-disposition']), new RegExp(`^attachment; filename="${bigFile}.car"`))
      // the same variant asked again: 304; another scope is another ETag
      assert.equal((await get(`/ipfs/${bigFile}?format=car`, { 'If-None-Match': String(r.headers.etag) })).status, 304)
      const block = await get(`/ipfs/${bigFile}?format=car&dag-scope=block`)
      assert.notEqual(block.headers.etag, r.headers.etag)
      assert.deepEqual((await readCarReply(block)).blocks, [bigFile])
    })

    it('a path: the blocks that prove it, then the entity; entity-bytes sends only the leaves of the range', async () => {
      const sub = await get(`/ipfs/${dir}/sub/data.bin?format=car&dag-scope=entity`)
      const { blocks } = await readCarReply(sub)
      const subDir = (await d.rpc('content.ls', { cid: dir })).find((e: { name: string }) => e.name === 'sub').cid
      const file = (await d.rpc('content.ls', { cid: subDir }))[0].cid
      assert.deepEqual(blocks, [dir, subDir, file])
      // bytes 300000..300099 sit in the second 256 KiB leaf: the root node and that leaf
      const range = await readCarReply(await get(`/ipfs/${bigFile}?format=car&entity-bytes=300000:300099`))
      assert.equal(range.blocks.length, 2)
      assert.equal(range.blocks[0], bigFile)
      const leaves = (await d.rpc('content.refs', { cid: bigFile })) as string[]
      assert.equal(range.blocks[1], leaves[1])
    })

    it('a path or root nobody has is a 404 before any byte; a bad dag-scope or entity-bytes a 400', async () => {
      assert.equal((await get(`/ipfs/${dir}/nope?format=car`)).status, 404)
      const missing = (await importFile(crypto.randomBytes(64), nullSink)).cid.toString()
      assert.equal((await get(`/ipfs/${missing}?format=car`)).status, 404)
      assert.equal((await get(`/ipfs/${bigFile}?format=car&dag-scope=most`)).status, 400)
      assert.equal((await get(`/ipfs/${bigFile}?format=car&entity-bytes=9:1`)).status, 400)
      const head = await get(`/ipfs/${bigFile}?format=car`, {}, 'HEAD')
      assert.equal(head.status, 200)
      assert.equal(head.body.length, 0)
    })
  })

  describe('deserialized responses', function () {
    it('a file: its bytes, Content-Type from the name or the first bytes, the CID as ETag', async () => {
      const md = await get(`/ipfs/${dir}/readme.md`)
      assert.equal(md.status, 200, md.body.toString())
      assert.equal(md.body.toString(), '# hello\n')
      assert.equal(md.headers['content-type'], 'text/markdown; charset=utf-8')
      assert.match(String(md.headers.etag), /^"b[a-z2-7]+"$/)
      assert.equal(md.headers['x-ipfs-path'], `/ipfs/${dir}/readme.md`)
      const bin = await get(`/ipfs/${dir}/sub/data.bin`)
      assert.deepEqual([...bin.body], [0, 1, 2, 3, 0, 255])
      assert.equal(bin.headers['content-type'], 'application/octet-stream')
      const sniffed = await get(`/ipfs/${dir}/noext`)
      assert.equal(sniffed.headers['content-type'], 'text/html; charset=utf-8')
      const whole = await get(`/ipfs/${bigFile}`)
      assert.equal(whole.status, 200)
      assert.ok(whole.body.equals(big))
      assert.equal(whole.headers.etag, `"${bigFile}"`)
      assert.equal((await get(`/ipfs/${bigFile}`, { 'If-None-Match': `"${bigFile}"` })).status, 304)
    })

    it('Range: 206 with the bytes asked for (across chunk boundaries), suffix ranges, 416 past the end', async () => {
      const from = 262_000
      const to = 600_000
      const r = await get(`/ipfs/${bigFile}`, { Range: `bytes=${from}-${to}` })
      assert.equal(r.status, 206)
      assert.equal(r.headers['content-range'], `bytes ${from}-${to}/${big.length}`)
      assert.ok(r.body.equals(big.subarray(from, to + 1)))
      const tail = await get(`/ipfs/${bigFile}`, { Range: 'bytes=-100' })
      assert.equal(tail.status, 206)
      assert.ok(tail.body.equals(big.subarray(big.length - 100)))
      const past = await get(`/ipfs/${bigFile}`, { Range: `bytes=${big.length}-` })
      assert.equal(past.status, 416)
      assert.equal(past.headers['content-range'], `bytes */${big.length}`)
    })

    it('a directory: redirected to its "/" address, listed with escaped names, or its index.html', async () => {
      const moved = await get(`/ipfs/${dir}/sub?x=1`)
      assert.equal(moved.status, 301)
      assert.equal(moved.headers.location, `/ipfs/${dir}/sub/?x=1`)
      const listing = await get(`/ipfs/${dir}/`)
      assert.equal(listing.status, 200)
      assert.equal(listing.headers['content-type'], 'text/html; charset=utf-8')
      const html = listing.body.toString()
      for (const name of ['readme.md', 'sub/', 'noext']) assert.ok(html.includes(`>${name}<`), `${name} is listed`)
      assert.ok(!html.includes('<b>&"odd"'), 'the odd name is escaped')
      assert.ok(html.includes('&#60;b&#62;&#38;&#34;odd&#34;.txt'))
      assert.ok(html.includes('href="%3Cb%3E%26%22odd%22.txt"'))
      // the listed link leads to the file
      const odd = await get(`/ipfs/${dir}/${encodeURIComponent('<b>&"odd".txt')}`)
      assert.equal(odd.body.toString(), 'odd name')
      const home = await get(`/ipfs/${site}/`)
      assert.equal(home.status, 200)
      assert.equal(home.body.toString(), '<html><body>home</body></html>')
      assert.equal(home.headers['content-type'], 'text/html; charset=utf-8')
    })
  })

  describe("Helia's own client", function () {
    it('verified-fetch reads a file and files in directories through the gateway, verifying every block', async () => {
      const helia = createHeliaLight()
      // Helia waits forever when it has only fallback routers (none of the
      // default kind finishes): the gateway is offered by a plain router
      const gateways = fallbackRouter({ gateways: [`http://127.0.0.1:${gw}`], shuffle: false })
      helia.addRouter({ name: 'shoal-gateway', findProviders: (cid, options) => gateways.findProviders!(cid, options) })
      helia.addBlockBroker(trustlessGatewayBlockBroker({ allowInsecure: true, allowLocal: true }))
      await helia.start()
      const verifiedFetch = await createVerifiedFetchWithHelia(helia)
      try {
        const file = await verifiedFetch(`ipfs://${bigFile}`, { signal: AbortSignal.timeout(20_000) })
        assert.equal(file.status, 200)
        assert.ok(Buffer.from(await file.arrayBuffer()).equals(big))
        const nested = await verifiedFetch(`ipfs://${dir}/sub/data.bin`, { signal: AbortSignal.timeout(20_000) })
        assert.equal(nested.status, 200)
        assert.deepEqual([...new Uint8Array(await nested.arrayBuffer())], [0, 1, 2, 3, 0, 255])
        const readme = await verifiedFetch(`ipfs://${dir}/readme.md`, { signal: AbortSignal.timeout(20_000) })
        assert.equal(await readme.text(), '# hello\n')
      } finally {
        await verifiedFetch.stop()
        await helia.stop()
      }
    })
  })

  describe('what the gateway refuses', function () {
    it('writes (405), IPNS (501), other paths (404), and a Host that is not loopback (403, against DNS rebinding)', async () => {
      for (const method of ['POST', 'PUT', 'DELETE']) {
        const r = await get(`/ipfs/${bigFile}`, {}, method)
        assert.equal(r.status, 405, method)
        assert.equal(r.headers.allow, 'GET, HEAD')
      }
      assert.equal((await get('/ipns/example.com')).status, 501)
      assert.equal((await get('/api/v1/cat/' + bigFile)).status, 404)
      assert.equal((await get('/rpc')).status, 404)
      const rebound = await get(`/ipfs/${bigFile}`, { Host: `evil.example:${gw}` })
      assert.equal(rebound.status, 403)
      // and nothing it says names the RPC port or its token
      for (const r of [rebound, await get('/'), await get('/ipfs/not-a-cid')]) {
        const text = r.body.toString() + JSON.stringify(r.headers)
        assert.ok(!text.includes(String(d.port)) && !text.includes(d.token), text)
      }
    })
  })

  it('an address it cannot open is one line in shoal\'s words', async () => {
    await assert.rejects(startGateway({ listen: `127.0.0.1:${gw}`, source: {} as GatewaySource }),
      /^ListenError: Cannot open the gateway on 127\.0\.0\.1:\d+: the address is already in use \(.*\); change --gateway or "gateway" in config\.json$/)
  })

  describe('parsing', function () {
    it('the response format: ?format first, then the first acceptable type of Accept', () => {
      assert.equal(responseFormat(null, undefined, null), 'deserialized')
      assert.equal(responseFormat(null, 'text/html,application/xhtml+xml,*/*;q=0.8', null), 'deserialized')
      assert.equal(responseFormat(null, 'application/vnd.ipld.raw', null), 'raw')
      assert.equal(responseFormat(null, 'application/vnd.ipld.car; version=1; order=dfs', null), 'car')
      assert.equal(responseFormat(null, 'text/html;q=0.5, application/vnd.ipld.car', null), 'car')
      assert.equal(responseFormat('raw', 'application/vnd.ipld.car', null), 'raw')
      assert.equal(responseFormat(null, 'application/vnd.ipld.car;version=2, application/vnd.ipld.raw;q=0.5', null), 'raw')
      assert.throws(() => responseFormat(null, 'application/vnd.ipld.car;version=2', null), /version 1/)
      assert.throws(() => responseFormat('car', undefined, '2'), /only version 1/)
    })

    it('Content-Type: by extension, then magic numbers, then UTF-8 text, else octet-stream', () => {
      assert.equal(contentTypeOf('a.PNG', new Uint8Array(0)), 'image/png')
      assert.equal(contentTypeOf(undefined, new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1])), 'image/png')
      assert.equal(contentTypeOf('x', Buffer.from('plain words')), 'text/plain; charset=utf-8')
      assert.equal(contentTypeOf('x', Buffer.from([0xff, 0xfe, 0x00])), 'application/octet-stream')
      // a multi-byte character cut at the 512-byte sniff boundary is still text
      const head = Buffer.concat([Buffer.alloc(510, 'a'), Buffer.from('é€').subarray(0, 2)])
      assert.equal(head.length, 512)
      assert.equal(contentTypeOf(undefined, head), 'text/plain; charset=utf-8')
    })
  })
})

interface Part { path: string, content?: Uint8Array }

/** Add a tree through the RPC port's multipart upload, as the CLI does; its root CID. */
async function addTree (d: TestDaemon, parts: Part[]): Promise<string> {
  const boundary = `test-${crypto.randomBytes(8).toString('hex')}`
  const chunks: Buffer[] = []
  for (const p of parts) {
    const type = p.content == null ? 'application/x-directory' : 'application/octet-stream'
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${encodeURIComponent(p.path)}"\r\nContent-Type: ${type}\r\n\r\n`))
    if (p.content != null) chunks.push(Buffer.from(p.content))
    chunks.push(Buffer.from('\r\n'))
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`))
  const reply = await d.request('/api/v1/add', { method: 'POST', body: Buffer.concat(chunks), headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` } })
  assert.equal(reply.status, 200, reply.body.toString())
  return reply.json.cid
}
