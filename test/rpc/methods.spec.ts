/**
 * The method table (src/rpc/api.ts) against a real daemon: params and query
 * strings are validated from its schemas, rpc.discover answers the OpenRPC
 * document built from it, and what the daemon answers fits the document's
 * result schemas (with no undocumented field).
 */
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { z } from 'zod'
import { METHODS } from '../../src/rpc/api.ts'
import { OPENRPC_VERSION } from '../../src/rpc/openrpc.ts'
import type { OpenRpcDocument, OpenRpcMethod } from '../../src/rpc/openrpc.ts'
import { VERSION } from '../../src/version.ts'
import { startTestDaemon } from '../helpers/daemon.ts'
import type { HttpReply, TestDaemon } from '../helpers/daemon.ts'

/** A JSON-RPC call's error object (the call must fail). */
async function rpcError (d: TestDaemon, method: string, params?: unknown): Promise<{ code: number, message: string }> {
  const reply = await d.request('/rpc', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method, ...(params === undefined ? {} : { params }) }))
  })
  assert.equal(reply.status, 200)
  assert.ok(reply.json.error != null, `${method} ${JSON.stringify(params)} should fail, answered ${JSON.stringify(reply.json.result)}`)
  return reply.json.error
}

/** The document's params of a method as one JSON Schema object, made a validator (zod's fromJSONSchema). */
function paramsValidator (m: OpenRpcMethod): z.ZodType {
  return z.fromJSONSchema({
    type: 'object',
    properties: Object.fromEntries(m.params.map(p => [p.name, p.schema])),
    required: m.params.filter(p => p.required === true).map(p => p.name),
    additionalProperties: false
  } as any)
}

function assertJsonError (reply: HttpReply, status: number, message: RegExp): void {
  assert.equal(reply.status, status, reply.body.toString())
  assert.equal(reply.json?.error?.code, 'ERR_INVALID_ARGUMENT')
  assert.match(reply.json.error.message, message)
}

describe('rpc: the method table', function () {
  this.timeout(60_000)
  let d: TestDaemon
  let doc: OpenRpcDocument

  before(async () => {
    d = await startTestDaemon()
    doc = await d.rpc('rpc.discover')
  })
  after(async () => { await d?.stop() })

  describe('validation from the schemas', () => {
    it('-32602 naming the field: wrong type, unknown, missing, out of range, too many by position', async () => {
      const cases: Array<[string, unknown, string]> = [
        ['content.stat', { cid: 5 }, 'Invalid params for content.stat: "cid" must be a string'],
        ['content.stat', { cid: 'bafkqaaa', cidVersion: 0 }, 'Invalid params for content.stat: unknown parameter "cidVersion" (expected cid, replicas)'],
        ['name.put', { path: '/x' }, 'Invalid params for name.put: "cid" is required'],
        ['name.put', { path: '/x', cid: 'bafkqaaa', size: -1 }, 'Invalid params for name.put: "size" must be >= 0'],
        ['name.put', { path: '/x', cid: 'bafkqaaa', meta: { a: 1 } }, 'Invalid params for name.put: "meta.a" must be a string'],
        ['pin.add', { cid: 'bafkqaaa', recursive: 'yes' }, 'Invalid params for pin.add: "recursive" must be true or false'],
        ['pin.rm', { cid: '' }, 'Invalid params for pin.rm: "cid" must not be empty'],
        ['content.refs', { cid: 'bafkqaaa', maxDepth: 1.5 }, 'Invalid params for content.refs: "maxDepth" must be a whole number'],
        ['pin.ls', { type: 'sideways' }, 'Invalid params for pin.ls: "type" must be one of recursive, direct, indirect, all'],
        ['block.stat', ['bafkqaaa', 'more'], 'Invalid params for block.stat: expected at most 1 parameters by position (cid)'],
        ['repo.gc', { force: true }, 'Invalid params for repo.gc: unknown parameter "force" (it takes none)'],
        ['node.id', [1], 'Invalid params for node.id: expected at most 0 parameters by position']
      ]
      for (const [method, params, message] of cases) {
        const error = await rpcError(d, method, params)
        assert.deepEqual(error, { code: -32602, message }, `${method} ${JSON.stringify(params)}`)
      }
    })

    it('every method of the table is served and checks its params first (over HTTP too for the WebSocket ones)', async () => {
      for (const method of Object.keys(METHODS)) {
        const error = await rpcError(d, method, { 'not-a-param': 1 })
        assert.equal(error.code, -32602, `${method}: ${error.message}`)
        assert.match(error.message, new RegExp(`^Invalid params for ${method.replace('.', '\\.')}: ("[a-z]+" is required|unknown parameter "not-a-param")`))
      }
    })

    it('params by position follow the table\'s order', async () => {
      const added = (await d.request('/api/v1/add', { method: 'POST', body: Buffer.from('positional') })).json
      assert.deepEqual(await d.rpc('content.stat', [added.cid, false]), await d.rpc('content.stat', { cid: added.cid, replicas: false }))
    })

    it('an unknown query parameter on a byte route is a 400 that names it, and nothing is stored', async () => {
      const before = { stat: await d.rpc('repo.stat'), pins: await d.rpc('pin.ls') }
      const body = crypto.randomBytes(300_000)
      // the case: Kubo's name is cid-version
      assertJsonError(await d.request('/api/v1/add?cidVersion=0', { method: 'POST', body }), 400,
        /^Invalid request: unknown query parameter "cidVersion" \(expected cid-version, chunker, raw-leaves, pin, replicas, quorum, progress\)$/)
      assertJsonError(await d.request('/api/v1/add?progress=true&pinned=false', { method: 'POST', body }), 400, /unknown query parameter "pinned"/)
      assertJsonError(await d.request('/api/v1/add?cid-version=2', { method: 'POST', body }), 400, /^Invalid "cid-version" "2": must be <= 1$/)
      assertJsonError(await d.request('/api/v1/add?pin=maybe', { method: 'POST', body }), 400, /^Invalid "pin" "maybe": must be true or false$/)
      assertJsonError(await d.request('/api/v1/block/put?codec=raw', { method: 'POST', body: Buffer.from('x') }), 400, /unknown query parameter "codec"/)
      assertJsonError(await d.request('/api/v1/dag/import?pin=false', { method: 'POST', body: Buffer.from('x') }), 400, /unknown query parameter "pin" \(expected pin-roots/)
      assert.deepEqual({ ...await d.rpc('repo.stat'), freeBytes: 0 }, { ...before.stat, freeBytes: 0 })
      assert.deepEqual(await d.rpc('pin.ls'), before.pins)

      const file = (await d.request('/api/v1/add?cid-version=0', { method: 'POST', body: Buffer.from('v0') })).json
      assert.match(file.cid, /^Qm/, 'the right name still works')
      assertJsonError(await d.request(`/api/v1/cat/${file.cid}?offest=1`), 400, /unknown query parameter "offest" \(expected offset, length\)/)
      assertJsonError(await d.request(`/api/v1/block/get/${file.cid}?x=1`), 400, /unknown query parameter "x" \(it takes none\)/)
      assertJsonError(await d.request(`/api/v1/dag/export/${file.cid}?scope=all`), 400, /unknown query parameter "scope"/)
      assertJsonError(await d.request('/metrics?name=x'), 400, /unknown query parameter "name"/)
      assert.equal((await d.request(`/api/v1/cat/${file.cid}?offset=1`)).body.toString(), '0')
    })
  })

  describe('rpc.discover', () => {
    it('answers an OpenRPC document with every method of the table, its params and result as JSON Schema', () => {
      assert.equal(doc.openrpc, OPENRPC_VERSION)
      assert.match(doc.openrpc, /^1\.3\.\d+$/)
      assert.deepEqual(doc.info.title, 'shoal')
      assert.equal(doc.info.version, VERSION)
      assert.deepEqual(doc.methods.map(m => m.name), Object.keys(METHODS))
      for (const m of doc.methods) {
        assert.ok(m.summary.length > 0 && m.description.length > 0, m.name)
        assert.deepEqual(m.params.map(p => p.name), Object.keys(METHODS[m.name as keyof typeof METHODS].params.shape), m.name)
        for (const p of m.params) assert.ok(typeof p.schema.type === 'string' || p.schema.anyOf != null, `${m.name} ${p.name}: ${JSON.stringify(p.schema)}`)
        assert.ok(m.result.schema.type != null || m.result.schema.anyOf != null || m.result.schema.oneOf != null, `${m.name} result`)
      }
      const stat = doc.methods.find(m => m.name === 'content.stat') as OpenRpcMethod
      assert.deepEqual(stat.params[0], { name: 'cid', required: true, description: 'a CID, or CID/path below it', schema: { type: 'string', minLength: 1, description: 'a CID, or CID/path below it' } })
      assert.equal(stat.params[1].required, false)
      const sub = doc.methods.find(m => m.name === 'name.subscribe') as OpenRpcMethod
      assert.equal(sub['x-shoal-websocket-only'], true)
      assert.ok(sub['x-shoal-notification']?.schema.properties != null)
    })

    it('its params\' schemas take what callers send, and refuse what the server refuses', () => {
      // what the existing specs and the CLI send
      const sent: Array<[string, unknown]> = [
        ['content.stat', { cid: 'bafkqaaa' }], ['content.stat', { cid: 'bafkqaaa', replicas: false }],
        ['content.ls', { cid: 'bafkqaaa' }], ['content.refs', { cid: 'bafkqaaa', recursive: true, unique: true, maxDepth: 2 }],
        ['block.stat', { cid: 'bafkqaaa' }], ['pin.add', { cid: 'bafkqaaa', recursive: false }], ['pin.rm', { cid: 'bafkqaaa' }],
        ['pin.ls', {}], ['pin.ls', { type: 'all', cid: 'bafkqaaa' }], ['repo.gc', {}], ['repo.stat', {}],
        ['name.put', { path: '/a', cid: 'bafkqaaa', context: 'c', size: 3, mode: 420, meta: { k: 'v' } }], ['name.get', { path: '/a' }],
        ['name.ls', {}], ['name.ls', { prefix: '/photos' }], ['name.rm', { path: '/a', context: 'c' }], ['name.resolve', { path: '/a', cid: 'bafkqaaa', size: 1 }],
        ['name.subscribe', { prefix: '/photos' }], ['name.subscribe', {}], ['name.unsubscribe', { subscription: '0xab' }],
        ['node.subscribe', {}], ['rpc.auth', { token: 't' }], ['token.rotate', {}], ['rpc.discover', {}]
      ]
      const refused: Array<[string, unknown]> = [
        ['content.stat', { cid: 5 }], ['content.stat', { cid: 'bafkqaaa', cidVersion: 0 }], ['name.put', { path: '/a' }],
        ['pin.ls', { type: 'sideways' }], ['repo.gc', { force: true }], ['content.refs', { cid: 'x', maxDepth: -1 }]
      ]
      const byName = new Map(doc.methods.map(m => [m.name, m]))
      for (const [method, params] of sent) {
        const result = paramsValidator(byName.get(method) as OpenRpcMethod).safeParse(params)
        assert.ok(result.success, `${method} ${JSON.stringify(params)}: ${result.error?.message}`)
      }
      for (const [method, params] of refused) {
        assert.equal(paramsValidator(byName.get(method) as OpenRpcMethod).safeParse(params).success, false, `${method} ${JSON.stringify(params)}`)
      }
    })

    it('what the daemon answers fits the documented result schemas, with no undocumented field', async () => {
      const byName = new Map(doc.methods.map(m => [m.name, m]))
      const check = (method: string, result: unknown): void => {
        const parsed = z.fromJSONSchema(byName.get(method)?.result.schema as any).safeParse(result)
        assert.ok(parsed.success, `${method}: ${parsed.error?.message ?? ''}\n${JSON.stringify(result)}`)
      }
      const routes = new Map(doc['x-shoal-byte-routes'].map(r => [r.name, r]))
      const tree = await d.request('/api/v1/add', {
        method: 'POST',
        headers: { 'Content-Type': 'multipart/form-data; boundary=b' },
        body: Buffer.from('--b\r\nContent-Disposition: form-data; name="file"; filename="d"\r\nContent-Type: application/x-directory\r\n\r\n\r\n' +
          '--b\r\nContent-Disposition: form-data; name="file"; filename="d%2Fa.txt"\r\nContent-Type: application/octet-stream\r\n\r\nhello\r\n--b--\r\n')
      })
      assert.equal(tree.status, 200, tree.body.toString())
      assert.ok(z.fromJSONSchema(routes.get('add')?.response.schema as any).safeParse(tree.json).success, JSON.stringify(tree.json))
      const progress = await d.request('/api/v1/add?progress=true', { method: 'POST', body: crypto.randomBytes(600_000) })
      const lines = progress.body.toString().trim().split('\n').map(l => JSON.parse(l))
      const result = lines.pop()
      assert.equal(result.type, 'result')
      assert.ok(lines.length > 0, 'some progress')
      for (const line of lines) assert.ok(z.fromJSONSchema(routes.get('add')?.progress?.schema as any).safeParse(line).success, JSON.stringify(line))

      const dir = tree.json.cid as string
      const file = tree.json.entries.find((e: { path: string }) => e.path === 'd/a.txt').cid as string
      check('node.id', await d.rpc('node.id'))
      check('peer.list', await d.rpc('peer.list'))
      check('node.health', await d.rpc('node.health'))
      check('content.stat', await d.rpc('content.stat', { cid: dir }))
      check('content.stat', await d.rpc('content.stat', { cid: file, replicas: false }))
      check('content.ls', await d.rpc('content.ls', { cid: dir }))
      check('content.refs', await d.rpc('content.refs', { cid: dir, recursive: true }))
      check('block.stat', await d.rpc('block.stat', { cid: file }))
      check('pin.add', await d.rpc('pin.add', { cid: file }))
      check('pin.ls', await d.rpc('pin.ls', { type: 'all' }))
      check('pin.rm', await d.rpc('pin.rm', { cid: file }))
      check('repo.stat', await d.rpc('repo.stat'))
      check('repo.gc', await d.rpc('repo.gc'))
      check('repair.run', await d.rpc('repair.run'))
      check('repair.status', await d.rpc('repair.status'))
      const put = await d.rpc('name.put', { path: '/schema/a', cid: file, meta: { by: 'test' } })
      check('name.put', put)
      check('name.put', await d.rpc('name.put', { path: '/schema/a', cid: dir }))
      check('name.get', await d.rpc('name.get', { path: '/schema/a' }))
      check('name.conflicts', await d.rpc('name.conflicts'))
      check('name.resolve', await d.rpc('name.resolve', { path: '/schema/a', cid: file }))
      check('name.ls', await d.rpc('name.ls', { prefix: '/schema' }))
      check('name.rm', await d.rpc('name.rm', { path: '/schema/a' }))
      check('rpc.discover', doc)
      // (the check can fail: a field the document does not name, a field of the wrong type)
      const id = await d.rpc('node.id')
      assert.equal(z.fromJSONSchema(byName.get('node.id')?.result.schema as any).safeParse({ ...id, extra: 1 }).success, false)
      assert.equal(z.fromJSONSchema(byName.get('name.get')?.result.schema as any).safeParse({ ...put, exists: 'yes' }).success, false)
    })
  })
})
