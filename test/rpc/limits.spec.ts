/**
 * Resource limits of the RPC port, on real sockets: the connection cap, the
 * header deadline, the slow-body rule, and refusals that close at once.
 * Margins are wide: these run on a loaded 2-core CI machine, under Node and Deno.
 */
import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import { createLogger } from '../../src/platform/logger.ts'
import type { MethodTable } from '../../src/rpc/jsonrpc.ts'
import { newRpcToken, startRpcServer } from '../../src/rpc/server.ts'
import type { HttpRoute, RpcServer, RpcServerInit } from '../../src/rpc/server.ts'

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** A raw client socket that records what it gets and when it closes. */
interface Raw {
  socket: net.Socket
  /** when the connection was asked for: before the server can have accepted it */
  openedAt: number
  closedAt?: number
  ended: boolean
  data: () => string
  closed: Promise<void>
}

async function openRaw (port: number): Promise<Raw> {
  const openedAt = Date.now()
  const socket = net.connect(port, '127.0.0.1')
  const chunks: Buffer[] = []
  const raw: Raw = {
    socket,
    openedAt,
    ended: false,
    data: () => Buffer.concat(chunks).toString('latin1'),
    closed: new Promise(resolve => { socket.once('close', () => { raw.closedAt = Date.now(); resolve() }) })
  }
  socket.on('data', c => chunks.push(c))
  socket.on('end', () => { raw.ended = true })
  // the server cuts these sockets: resets and writes after the cut are expected
  socket.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => { resolve() })
    socket.once('close', () => { reject(new Error('closed before connecting')) })
  })
  return raw
}

/** Resolves true when `p` settles within `ms`. */
async function within (p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<false>(resolve => { timer = setTimeout(() => { resolve(false) }, ms) })
  try {
    return await Promise.race([p.then(() => true as const), late])
  } finally {
    clearTimeout(timer)
  }
}

describe('rpc server limits', () => {
  let server: RpcServer | undefined
  let token: string
  let port: number
  const warnings: string[] = []
  const uploads = { started: 0, aborted: 0, finished: 0 }
  /** how long the upload route waits before reading its body */
  let uploadStallMs = 0

  const methods: MethodTable = { 'test.echo': (params) => params }
  const uploadRoute: HttpRoute = {
    method: 'POST',
    path: /^\/test\/upload$/,
    handle: async (req, res, { signal }) => {
      uploads.started++
      let done = false
      // the signal also aborts when the answer's connection closes after an answer
      signal.addEventListener('abort', () => { if (!done) uploads.aborted++ }, { once: true })
      let size = 0
      try {
        if (uploadStallMs > 0) await sleep(uploadStallMs)
        for await (const chunk of req.iterator({ destroyOnReturn: false })) size += (chunk as Buffer).length
      } catch {
        return
      }
      done = true
      uploads.finished++
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ size }))
    }
  }

  async function start (init: Partial<RpcServerInit>): Promise<void> {
    token = newRpcToken()
    warnings.length = 0
    uploads.started = uploads.aborted = uploads.finished = 0
    uploadStallMs = 0
    const logger = createLogger({ level: 'warn', write: line => { warnings.push(line) } })
    server = await startRpcServer({ listen: '127.0.0.1:0', token, methods, routes: [uploadRoute], logger, ...init })
    port = Number(server.address.split(':')[1])
  }
  afterEach(async () => {
    await server?.close()
    server = undefined
  })

  /** One authorized JSON-RPC call on a fresh connection. */
  async function call (value: unknown = 'ping'): Promise<unknown> {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'test.echo', params: [value] })
    const reply = await new Promise<{ status: number, body: string }>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/rpc',
        agent: false,
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Connection: 'close' }
      }, res => {
        const chunks: Buffer[] = []
        res.on('data', c => chunks.push(c))
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }) })
        res.on('error', reject)
      })
      req.on('error', reject)
      req.setTimeout(10_000, () => { req.destroy(new Error('no answer in 10 s')) })
      req.end(body)
    })
    assert.equal(reply.status, 200, reply.body)
    return (JSON.parse(reply.body) as { result: unknown[] }).result[0]
  }

  function head (path: string, withToken: boolean, extra = ''): string {
    return `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
      (withToken ? `Authorization: Bearer ${token}\r\n` : '') + extra
  }

  it('500 connections sending headers or bodies slowly (half without a token) are all closed within about readTimeoutMs; calls work meanwhile and afterwards', async () => {
    const readTimeoutMs = 1000
    const attackers = 500
    await start({ readTimeoutMs, maxConnections: attackers + 10 })
    type Kind = 'slow headers' | 'slow body (rpc)' | 'slow body (upload)' | 'refused'
    const opened: Array<{ raw: Raw, kind: Kind }> = []
    // one byte per socket every 100 ms: far below 1 KiB per window
    const drip = setInterval(() => {
      for (const { raw } of opened) if (raw.closedAt == null && !raw.socket.destroyed) raw.socket.write(' ')
    }, 100)
    try {
      for (let batch = 0; batch < attackers; batch += 50) {
        await Promise.all(Array.from({ length: 50 }, async (_, j) => {
          const i = batch + j
          const withToken = i % 2 === 0
          const slowHeaders = i % 4 < 2
          const raw = await openRaw(port)
          let kind: Kind
          if (slowHeaders) {
            kind = 'slow headers'
            raw.socket.write(head('/rpc', withToken, 'X-Slow: '))
          } else if (!withToken) {
            kind = 'refused'
            raw.socket.write(head('/rpc', false, 'Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n'))
          } else {
            kind = i % 8 === 2 ? 'slow body (rpc)' : 'slow body (upload)'
            const path = kind === 'slow body (rpc)' ? '/rpc' : '/test/upload'
            raw.socket.write(head(path, true, 'Content-Length: 100000\r\n\r\n['))
          }
          opened.push({ raw, kind })
        }))
      }
      assert.equal(opened.length, attackers)

      // meanwhile: an authorized call is served
      assert.equal(await call('during'), 'during')
      const stillOpen = opened.filter(o => o.raw.closedAt == null && o.kind !== 'refused').length
      assert.ok(stillOpen > 0, 'the attack was over before the call: nothing was tested')

      const allClosed = await within(Promise.all(opened.map(async o => { await o.raw.closed })), readTimeoutMs + 10_000)
      const open = opened.filter(o => o.raw.closedAt == null)
      assert.ok(allClosed, `${open.length} attacker sockets still open, e.g. ${open.slice(0, 3).map(o => o.kind).join(', ')}`)
      assert.equal(opened.filter(o => o.raw.closedAt != null).length, attackers)

      const life = (o: { raw: Raw }): number => (o.raw.closedAt as number) - o.raw.openedAt
      const slowest = Math.max(...opened.map(life))
      assert.ok(slowest < readTimeoutMs + 5000, `an attacker stayed ${slowest} ms with readTimeoutMs ${readTimeoutMs}`)
      // the slow ones were cut by the deadline, not by something else
      const quickest = Math.min(...opened.filter(o => o.kind !== 'refused').map(life))
      assert.ok(quickest >= readTimeoutMs - 100, `a slow connection was closed after ${quickest} ms, before its deadline`)
      // the unauthorized bodies were refused at once, answered 401
      for (const o of opened.filter(o => o.kind === 'refused')) assert.match(o.raw.data(), /^HTTP\/1\.1 401 /)
      // the cut uploads saw their signal abort
      const cutUploads = opened.filter(o => o.kind === 'slow body (upload)').length
      for (let i = 0; i < 100 && uploads.aborted < cutUploads; i++) await sleep(20)
      assert.equal(uploads.started, cutUploads)
      assert.equal(uploads.aborted, cutUploads)
      assert.equal(uploads.finished, 0)
    } finally {
      clearInterval(drip)
      for (const { raw } of opened) raw.socket.destroy()
    }

    // afterwards: calls work, and the closed sockets no longer count against the cap
    // (had they leaked, only 10 of these 20 concurrent calls would fit)
    const results = await Promise.all(Array.from({ length: 20 }, async (_, i) => await call(i)))
    assert.deepEqual(results, Array.from({ length: 20 }, (_, i) => i))
    assert.ok(warnings.some(w => /too slow/.test(w)), 'the cuts were logged')
    assert.ok(warnings.length <= 6, `the log was flooded: ${warnings.length} warnings:\n${warnings.slice(0, 5).join('')}`)
  })

  it('maxConnections: connections beyond the cap are closed at once (logged once), the first ones stay and are served; calls work again after they go', async () => {
    const maxConnections = 20
    await start({ maxConnections, readTimeoutMs: 30_000 })
    const held: Raw[] = []
    const extra: Raw[] = []
    try {
      for (let i = 0; i < maxConnections; i++) held.push(await openRaw(port))
      await sleep(300) // the server has accepted them all
      for (let i = 0; i < 10; i++) extra.push(await openRaw(port))
      const extrasClosed = await within(Promise.all(extra.map(async r => { await r.closed })), 5000)
      assert.ok(extrasClosed, `${extra.filter(r => r.closedAt == null).length} of the 10 connections over the cap are still open`)
      for (const r of extra) assert.equal(r.data(), '', 'a refused connection gets no answer')
      await sleep(300)
      assert.equal(held.filter(r => r.closedAt != null).length, 0, 'connections within the cap were closed')
      // a held connection is served
      const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'test.echo', params: ['held'] })
      held[0].socket.write(head('/rpc', true, `Content-Length: ${body.length}\r\n\r\n${body}`))
      for (let i = 0; i < 100 && !held[0].data().includes('"held"'); i++) await sleep(50)
      assert.match(held[0].data(), /^HTTP\/1\.1 200 [^]*"result":\["held"\]/)
      // while the cap is taken, a call is refused
      await assert.rejects(call('refused'))
    } finally {
      for (const r of [...held, ...extra]) r.socket.destroy()
    }
    // once they are gone the server takes calls again
    let answer: unknown
    for (let i = 0; i < 50 && answer == null; i++) {
      answer = await call('back').catch(async () => { await sleep(100) })
    }
    assert.equal(answer, 'back')
    const refusals = warnings.filter(w => /refused/.test(w))
    assert.ok(refusals.length >= 1, 'the refusals were not logged')
    assert.ok(refusals.length <= 2, `11 refusals gave ${refusals.length} warnings`)
  })

  it('401, 403, 404 and 405 answer with Connection: close and close the connection without reading the body', async () => {
    await start({ readTimeoutMs: 30_000 })
    const declared = 64 * 1024 * 1024
    const cases: Array<{ status: number, request: string }> = [
      { status: 401, request: head('/rpc', false) },
      { status: 401, request: `POST /rpc HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer wrong\r\n` },
      { status: 403, request: head('/rpc', true, 'Origin: http://evil.example\r\n') },
      { status: 403, request: `POST /rpc HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer ${token}\r\n` },
      { status: 404, request: head('/nothing', true) },
      { status: 405, request: `PUT /rpc HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${token}\r\n` }
    ]
    for (const { status, request } of cases) {
      const raw = await openRaw(port)
      // a body far too big to be read in the time allowed; 64 KiB of it sent
      raw.socket.write(`${request}Content-Length: ${declared}\r\n\r\n`)
      raw.socket.write(Buffer.alloc(64 * 1024, 0x20))
      const closed = await within(raw.closed, 5000)
      raw.socket.destroy()
      assert.ok(closed, `${status}: the connection stayed open`)
      const answer = raw.data()
      assert.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `), request)
      assert.match(answer, /\r\nconnection: close\r\n/i, `${status} without Connection: close`)
    }
    assert.equal(await call('still here'), 'still here')
  })

  it('a steady upload (64 KiB every 100 ms over 4 windows) is not cut, nor one that the server is slow to read', async () => {
    const readTimeoutMs = 1000
    await start({ readTimeoutMs })
    const piece = 64 * 1024
    const pieces = 40
    const upload = async (): Promise<{ status: number, body: string }> => await new Promise((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/test/upload',
        agent: false,
        headers: { Authorization: `Bearer ${token}`, 'Content-Length': piece * pieces }
      }, res => {
        const chunks: Buffer[] = []
        res.on('data', c => chunks.push(c))
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }) })
      })
      req.on('error', reject)
      let sent = 0
      const timer = setInterval(() => {
        req.write(Buffer.alloc(piece, 0x61))
        if (++sent === pieces) {
          clearInterval(timer)
          req.end()
        }
      }, 100)
      req.on('close', () => { clearInterval(timer) })
    })

    const started = Date.now()
    const steady = await upload()
    assert.equal(steady.status, 200, steady.body)
    assert.deepEqual(JSON.parse(steady.body), { size: piece * pieces })
    assert.ok(Date.now() - started >= 3.5 * readTimeoutMs, 'the upload did not span several windows')

    // the route does not read for 3 windows: the client is not to blame
    uploadStallMs = 3 * readTimeoutMs
    const stalled = await upload()
    assert.equal(stalled.status, 200, stalled.body)
    assert.deepEqual(JSON.parse(stalled.body), { size: piece * pieces })
    assert.equal(uploads.aborted, 0)
  })

  it('keep-alive: the next request is served if it comes in time; an idle connection is closed after about readTimeoutMs', async () => {
    const readTimeoutMs = 1000
    await start({ readTimeoutMs })
    const raw = await openRaw(port)
    try {
      const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'test.echo', params: ['again'] })
      const request = head('/rpc', true, `Content-Length: ${body.length}\r\n\r\n${body}`)
      // 3 requests half a window apart: longer than one window in all, so the
      // deadline must start again at each answer
      for (let round = 1; round <= 3; round++) {
        if (round > 1) await sleep(readTimeoutMs / 2)
        raw.socket.write(request)
        for (let i = 0; i < 100 && raw.data().split('"again"').length <= round; i++) await sleep(20)
        assert.equal(raw.data().split('"again"').length - 1, round, `round ${round} was not answered`)
      }
      const idleFrom = Date.now()
      // (node:http's own keepAliveTimeout, 5 s, would close it only later)
      assert.ok(await within(raw.closed, readTimeoutMs + 3000), 'the idle connection stayed open')
      assert.ok(Date.now() - idleFrom >= readTimeoutMs / 2, 'closed too early')
    } finally {
      raw.socket.destroy()
    }
  })
})
