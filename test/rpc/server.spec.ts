import assert from 'node:assert/strict'
import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import { InvalidParamsError, ShoalError } from '../../src/errors.ts'
import { expectNoParams } from '../../src/rpc/jsonrpc.ts'
import type { MethodTable } from '../../src/rpc/jsonrpc.ts'
import { MAX_JSON_BODY, newRpcToken, startRpcServer } from '../../src/rpc/server.ts'
import type { RpcServer } from '../../src/rpc/server.ts'

interface Reply { status: number, body: string, headers: http.IncomingHttpHeaders }

describe('rpc server', () => {
  let server: RpcServer
  let token: string
  let port: number
  const calls: string[] = []

  const methods: MethodTable = {
    'test.echo': (params) => params,
    'test.sum': (params) => {
      if (!Array.isArray(params) || params.some(p => typeof p !== 'number')) throw new InvalidParamsError('expected an array of numbers')
      return (params as number[]).reduce((a, b) => a + b, 0)
    },
    'test.record': (params) => { calls.push(JSON.stringify(params ?? null)) },
    'test.fail': () => { throw new ShoalError('the thing failed because of reasons', 'ERR_THING') },
    'test.bug': () => { throw new TypeError('secret internal detail') },
    'test.none': (params) => { expectNoParams(params); return 'ok' }
  }

  before(async () => {
    token = newRpcToken()
    server = await startRpcServer({ listen: '127.0.0.1:0', token, methods, allowedHosts: ['shoal.internal:4711'] })
    port = Number(server.address.split(':')[1])
  })
  after(async () => { await server.close() })
  beforeEach(() => { calls.length = 0 })

  function request (body: string | Buffer | undefined, init: { method?: string, path?: string, headers?: Record<string, string>, chunked?: boolean } = {}): Promise<Reply> {
    const headers: Record<string, string> = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', ...init.headers }
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: init.method ?? 'POST', path: init.path ?? '/rpc', headers }, res => {
        const chunks: Buffer[] = []
        res.on('data', c => chunks.push(c))
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }) })
      })
      req.on('error', reject)
      if (init.chunked === true && body != null) {
        // no Content-Length: the server must count as it reads
        const buf = Buffer.from(body)
        const piece = 64 * 1024
        let i = 0
        const pump = (): void => {
          while (i < buf.length) {
            const ok = req.write(buf.subarray(i, i + piece))
            i += piece
            if (!ok) { req.once('drain', pump); return }
          }
          req.end()
        }
        pump()
      } else {
        req.end(body)
      }
    })
  }

  async function rpc (payload: unknown): Promise<any> {
    const reply = await request(typeof payload === 'string' ? payload : JSON.stringify(payload))
    assert.equal(reply.status, 200, reply.body)
    assert.match(String(reply.headers['content-type']), /application\/json/)
    return JSON.parse(reply.body)
  }

  describe('JSON-RPC 2.0', () => {
    it('answers a call with its result and id (positional and named params)', async () => {
      assert.deepEqual(await rpc({ jsonrpc: '2.0', id: 1, method: 'test.sum', params: [1, 2, 3] }), { jsonrpc: '2.0', id: 1, result: 6 })
      assert.deepEqual(await rpc({ jsonrpc: '2.0', id: 'a', method: 'test.echo', params: { x: 1 } }), { jsonrpc: '2.0', id: 'a', result: { x: 1 } })
      assert.deepEqual(await rpc({ jsonrpc: '2.0', id: null, method: 'test.none' }), { jsonrpc: '2.0', id: null, result: 'ok' })
    })

    it('-32700 for a body that is not JSON, with id null', async () => {
      assert.deepEqual(await rpc('{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]'), {
        jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' }
      })
    })

    it('-32600 for requests that are not valid Request objects', async () => {
      const invalid = [
        1,
        '"x"',
        { method: 'test.none', id: 1 },
        { jsonrpc: '1.0', method: 'test.none', id: 1 },
        { jsonrpc: '2.0', method: 1, params: 'bar' },
        { jsonrpc: '2.0', method: 'test.echo', params: 'bar', id: 1 },
        { jsonrpc: '2.0', method: 'test.none', id: { a: 1 } },
        { jsonrpc: '2.0', method: 'test.none', id: [1] }
      ]
      for (const req of invalid) {
        const reply = await rpc(req)
        assert.equal(reply.error.code, -32600, JSON.stringify(req))
        assert.equal(reply.id, null)
      }
    })

    it('-32601 for an unknown method, even one inherited from Object', async () => {
      for (const method of ['no.such', 'toString', '__proto__', 'constructor']) {
        const reply = await rpc({ jsonrpc: '2.0', id: 7, method })
        assert.deepEqual(reply.error, { code: -32601, message: `Method not found: ${method}` })
        assert.equal(reply.id, 7)
      }
    })

    it('-32602 for invalid params', async () => {
      const reply = await rpc({ jsonrpc: '2.0', id: 2, method: 'test.sum', params: ['a'] })
      assert.equal(reply.error.code, -32602)
      assert.match(reply.error.message, /expected an array of numbers/)
      const none = await rpc({ jsonrpc: '2.0', id: 3, method: 'test.none', params: [1] })
      assert.equal(none.error.code, -32602)
      for (const empty of [[], {}]) {
        assert.equal((await rpc({ jsonrpc: '2.0', id: 4, method: 'test.none', params: empty })).result, 'ok')
      }
    })

    it('-32000 with a stable code for shoal errors, -32603 without details for bugs', async () => {
      const fail = await rpc({ jsonrpc: '2.0', id: 5, method: 'test.fail' })
      assert.deepEqual(fail.error, { code: -32000, message: 'the thing failed because of reasons', data: { code: 'ERR_THING', name: 'ShoalError' } })
      const bug = await rpc({ jsonrpc: '2.0', id: 6, method: 'test.bug' })
      assert.deepEqual(bug.error, { code: -32603, message: 'Internal error' })
      assert.doesNotMatch(JSON.stringify(bug), /secret/)
    })

    it('runs notifications and answers nothing (204)', async () => {
      const reply = await request(JSON.stringify({ jsonrpc: '2.0', method: 'test.record', params: [42] }))
      assert.equal(reply.status, 204)
      assert.equal(reply.body, '')
      assert.deepEqual(calls, ['[42]'])
      // errors in notifications are not reported either
      assert.equal((await request(JSON.stringify({ jsonrpc: '2.0', method: 'no.such' }))).status, 204)
    })

    it('answers batches with one response per call, in any order, skipping notifications', async () => {
      const reply = await rpc([
        { jsonrpc: '2.0', method: 'test.sum', params: [1, 2, 4], id: '1' },
        { jsonrpc: '2.0', method: 'test.record', params: [7] },
        { jsonrpc: '2.0', method: 'test.sum', params: [42, 23], id: '2' },
        { foo: 'boo' },
        { jsonrpc: '2.0', method: 'foo.get', params: { name: 'myself' }, id: '5' },
        { jsonrpc: '2.0', method: 'test.none', id: '9' }
      ])
      assert.ok(Array.isArray(reply))
      const byId = new Map(reply.map((r: any) => [r.id, r]))
      assert.equal(reply.length, 5)
      assert.equal((byId.get('1') as any).result, 7)
      assert.equal((byId.get('2') as any).result, 65)
      assert.equal((byId.get('5') as any).error.code, -32601)
      assert.equal((byId.get('9') as any).result, 'ok')
      assert.equal(reply.filter((r: any) => r.id === null && r.error?.code === -32600).length, 1)
      assert.deepEqual(calls, ['[7]'])
    })

    it('-32600 for an empty batch, one error per element for a batch of junk', async () => {
      const empty = await rpc([])
      assert.equal(empty.error.code, -32600)
      const junk = await rpc([1, 2, 3])
      assert.equal(junk.length, 3)
      for (const r of junk) assert.deepEqual([r.id, r.error.code], [null, -32600])
    })

    it('answers nothing to a batch of notifications only', async () => {
      const reply = await request(JSON.stringify([
        { jsonrpc: '2.0', method: 'test.record', params: [1] },
        { jsonrpc: '2.0', method: 'test.record', params: [2] }
      ]))
      assert.equal(reply.status, 204)
      assert.deepEqual(calls.sort(), ['[1]', '[2]'])
    })
  })

  describe('HTTP guard', () => {
    const ok = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'test.none' })

    it('401 without a token, with a wrong one, or with another scheme', async () => {
      for (const authorization of [undefined, 'Bearer wrong', `Bearer ${token}x`, `Basic ${token}`, token]) {
        const headers: Record<string, string> = {}
        if (authorization != null) headers.Authorization = authorization
        const reply = await new Promise<number>((resolve, reject) => {
          const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/rpc', headers }, res => { res.resume(); resolve(res.statusCode ?? 0) })
          req.on('error', reject)
          req.end(ok)
        })
        assert.equal(reply, 401, String(authorization))
      }
    })

    it('403 for a foreign Origin, even with the right token', async () => {
      for (const origin of ['http://evil.example', 'https://localhost:1', 'null', `http://127.0.0.1:${port + 1}`]) {
        const reply = await request(ok, { headers: { Origin: origin } })
        assert.equal(reply.status, 403, origin)
      }
      assert.equal((await request(ok, { headers: { Origin: `http://127.0.0.1:${port}` } })).status, 200)
      assert.equal((await request(ok, { headers: { Origin: `http://localhost:${port}` } })).status, 200)
    })

    it('403 for a Host that is not this server (DNS rebinding)', async () => {
      for (const host of ['evil.example', `evil.example:${port}`, `127.0.0.1:${port + 1}`, `localhost.evil.example:${port}`]) {
        const reply = await request(ok, { headers: { Host: host } })
        assert.equal(reply.status, 403, host)
      }
      for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'shoal.internal:4711']) {
        assert.equal((await request(ok, { headers: { Host: host } })).status, 200, host)
      }
    })

    it('403 without a Host header', async () => {
      const socket = net.connect(port, '127.0.0.1')
      const chunks: Buffer[] = []
      socket.on('data', c => chunks.push(c))
      socket.end(`POST /rpc HTTP/1.0\r\nAuthorization: Bearer ${token}\r\nContent-Length: ${ok.length}\r\n\r\n${ok}`)
      await once(socket, 'close')
      assert.match(Buffer.concat(chunks).toString(), /^HTTP\/1\.[01] 403 /)
    })

    it('413 for a body over 1 MiB, declared or streamed', async () => {
      const big = Buffer.alloc(MAX_JSON_BODY + 1, 0x20)
      assert.equal((await request(big)).status, 413)
      assert.equal((await request(big, { chunked: true })).status, 413)
      // exactly the limit is fine (whitespace around a valid request)
      const exact = Buffer.alloc(MAX_JSON_BODY, 0x20)
      Buffer.from(ok).copy(exact)
      const reply = await request(exact)
      assert.equal(reply.status, 200)
      assert.equal(JSON.parse(reply.body).result, 'ok')
    })

    it('404 for other paths, 405 for other methods', async () => {
      assert.equal((await request(ok, { path: '/other' })).status, 404)
      const get = await request(undefined, { method: 'GET' })
      assert.equal(get.status, 405)
      assert.equal(get.headers.allow, 'POST')
    })

    it('keeps serving after bad requests', async () => {
      assert.deepEqual(await rpc({ jsonrpc: '2.0', id: 1, method: 'test.sum', params: [2, 2] }), { jsonrpc: '2.0', id: 1, result: 4 })
    })
  })
})
