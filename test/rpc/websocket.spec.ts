import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { InvalidArgumentError } from '../../src/errors.ts'
import type { NodeEvent } from '../../src/node/node.ts'
import type { NameInfo } from '../../src/names/service.ts'
import type { MethodTable } from '../../src/rpc/jsonrpc.ts'
import { newRpcToken, startRpcServer } from '../../src/rpc/server.ts'
import type { RpcServer } from '../../src/rpc/server.ts'
import { MAX_SUBSCRIPTIONS_PER_SOCKET, subscriptionMethods } from '../../src/rpc/subscriptions.ts'
import { httpRequest, memoryLogger } from '../helpers/daemon.ts'
import { waitFor } from '../helpers/tmp.ts'
import { connectWs, refusedUpgrade } from '../helpers/websocket.ts'
import type { WsClient } from '../helpers/websocket.ts'

/** Stub event sources: the test emits name changes and node events itself. */
function stubSources (): {
  sources: Parameters<typeof subscriptionMethods>[0]
  names: Set<(c: NameInfo) => void>
  watchers: Set<(e: NodeEvent) => void>
  emitName: (path: string, extra?: Partial<NameInfo>) => void
} {
  const names = new Set<(c: NameInfo) => void>()
  const prefixes = new Map<(c: NameInfo) => void, string>()
  const watchers = new Set<(e: NodeEvent) => void>()
  return {
    names,
    watchers,
    sources: {
      names: {
        onChange: (prefix, listener) => {
          if (!prefix.startsWith('/')) throw new InvalidArgumentError(`Invalid name "${prefix}": a name must start with "/"`)
          const own = (c: NameInfo): void => { listener(c) }
          names.add(own)
          prefixes.set(own, prefix)
          return () => { names.delete(own) }
        }
      },
      watch: (listener) => {
        const own = (e: NodeEvent): void => { listener(e) }
        watchers.add(own)
        return () => { watchers.delete(own) }
      }
    },
    emitName: (path, extra = {}) => {
      const info: NameInfo = { path, exists: true, conflict: false, value: null, siblings: [], context: 'ctx', ...extra }
      for (const l of names) {
        const prefix = prefixes.get(l) as string
        if (prefix === '/' || path === prefix || path.startsWith(prefix + '/')) l(info)
      }
    }
  }
}

describe('rpc over WebSocket (server)', () => {
  let server: RpcServer
  let token: string
  let port: number
  const lines: string[] = []
  const stub = stubSources()
  const methods: MethodTable = {
    'test.echo': (params) => params,
    ...subscriptionMethods(stub.sources)
  }
  const clients: WsClient[] = []
  const connect = async (options: Parameters<typeof connectWs>[1] = {}): Promise<WsClient> => {
    const c = await connectWs(port, options)
    clients.push(c)
    return c
  }

  before(async () => {
    token = newRpcToken()
    server = await startRpcServer({
      listen: '127.0.0.1:0',
      token,
      methods,
      allowedHosts: ['shoal.internal:4711'],
      readTimeoutMs: 500,
      maxConnections: 8,
      maxWebSocketBufferedBytes: 64 * 1024,
      logger: memoryLogger(lines)
    })
    port = Number(server.address.split(':')[1])
  })
  afterEach(async () => {
    await Promise.all(clients.splice(0).map(async c => { await c.close() }))
    await waitFor(() => server.webSocketStats().sockets === 0, 'every test socket to close', 5000, 20)
  })
  after(async () => { await server.close() })

  it('answers calls, batches and errors over a socket authenticated by its header or by rpc.auth', async () => {
    const byHeader = await connect({ token })
    assert.deepEqual(await byHeader.call('test.echo', { a: 1 }), { a: 1 })
    const byMessage = await connect({ authMessage: token })
    assert.deepEqual(await byMessage.call('test.echo', [1, 2]), [1, 2])
    // a batch is answered as one message; a JSON-RPC error is an answer, not a close
    byMessage.ws.send(JSON.stringify([{ jsonrpc: '2.0', id: 'x', method: 'test.echo', params: [3] }, { jsonrpc: '2.0', id: 'y', method: 'no.such' }]))
    await waitFor(() => byMessage.messages.some(m => Array.isArray(m)), 'the batch answer', 5000, 20)
    const batch = byMessage.messages.find(m => Array.isArray(m)) as any[]
    assert.deepEqual(batch.map((r: any) => r.id).sort(), ['x', 'y'])
    assert.equal(batch.find((r: any) => r.id === 'y').error.code, -32601)
    await assert.rejects(byMessage.call('no.such'), (err: any) => err.rpcCode === -32601)
    byMessage.ws.send('{not json')
    await waitFor(() => byMessage.messages.some(m => m.error?.code === -32700), 'the parse error', 5000, 20)
    assert.equal(byMessage.ws.readyState, byMessage.ws.OPEN)
  })

  it('answers nothing before rpc.auth: another message, a wrong token or no token in time closes the socket (1008)', async () => {
    const early = await connect()
    early.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'test.echo', params: [1] }))
    const a = await early.closed
    assert.equal(a.code, 1008)
    assert.match(a.reason, /Unauthorized: send rpc\.auth/)
    assert.equal(early.messages.length, 0)

    const wrong = await connect()
    wrong.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'rpc.auth', params: { token: newRpcToken() } }))
    const b = await wrong.closed
    assert.equal(b.code, 1008)
    assert.match(b.reason, /wrong token/)
    assert.equal(wrong.messages.length, 0)

    const silent = await connect()
    const started = Date.now()
    const c = await silent.closed
    assert.equal(c.code, 1008)
    assert.match(c.reason, /no rpc\.auth/)
    assert.ok(Date.now() - started < 3000, `closed after ${Date.now() - started} ms`)
  })

  it('refuses upgrades with a wrong header token (401), a foreign Origin or Host (403), another path (404)', async () => {
    assert.equal(await refusedUpgrade(port, { token: newRpcToken() }), 401)
    assert.equal(await refusedUpgrade(port, { token, headers: { Origin: 'http://evil.example' } }), 403)
    assert.equal(await refusedUpgrade(port, { token, headers: { Host: 'evil.example:1234' } }), 403)
    assert.equal(await refusedUpgrade(port, { token, path: '/api/v1/cat/x' }), 404)
    // the allowed Host and an own Origin pass
    const own = await connect({ token, headers: { Host: 'shoal.internal:4711', Origin: `http://127.0.0.1:${port}` } })
    assert.deepEqual(await own.call('test.echo', [1]), [1])
  })

  it('a rotated token refuses new sockets with the old one; the sockets already admitted go on', async () => {
    const old = token
    const admitted = await connect({ token: old })
    token = newRpcToken()
    server.setToken(token)
    try {
      assert.equal(await refusedUpgrade(port, { token: old }), 401)
      const late = await connect()
      late.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'rpc.auth', params: { token: old } }))
      assert.equal((await late.closed).code, 1008)
      assert.deepEqual(await (await connect({ authMessage: token })).call('test.echo', [2]), [2])
      assert.deepEqual(await admitted.call('test.echo', [3]), [3])
    } finally {
      server.setToken(token)
    }
  })

  it('closes a socket whose message is over 1 MiB (1009); the server goes on', async () => {
    const big = await connect({ token })
    big.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'test.echo', params: ['x'.repeat(1024 * 1024)] }))
    assert.equal((await big.closed).code, 1009)
    assert.deepEqual(await (await connect({ token })).call('test.echo', ['ok']), ['ok'])
  })

  it('WebSockets count against maxConnections and outlive the HTTP read deadline', async () => {
    const sockets = await Promise.all(Array.from({ length: 8 }, async () => await connect({ token })))
    // well past readTimeoutMs (500 ms): an open WebSocket is not a slow HTTP request
    await sleep(1200)
    assert.deepEqual(await sockets[0].call('test.echo', [1]), [1])
    // the ninth connection is closed at once
    await assert.rejects(httpRequest(port, '/rpc', { method: 'POST', token, body: Buffer.from('{}') }))
    await sockets[7].close()
    await waitFor(() => server.webSocketStats().sockets === 7, 'the socket to be gone', 5000, 20)
    const reply = await httpRequest(port, '/rpc', { method: 'POST', token, body: Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'test.echo', params: [9] })) })
    assert.equal(reply.json.result[0], 9)
  })

  it('subscriptions: notifications name their id, unsubscribe stops them, a closed socket frees its subscriptions', async () => {
    const c = await connect({ token })
    const photos = await c.call('name.subscribe', { prefix: '/photos' })
    const all = await c.call('name.subscribe', [])
    const node = await c.call('node.subscribe')
    assert.match(photos, /^0x[0-9a-f]{32}$/)
    assert.equal(new Set([photos, all, node]).size, 3)
    assert.deepEqual(server.webSocketStats(), { sockets: 1, subscriptions: 3 })

    stub.emitName('/photos/cat.jpg', { conflict: true })
    stub.emitName('/docs/a')
    for (const w of stub.watchers) w({ type: 'peer.joined', peer: '12D3KooWpeer' })
    await c.next(n => n.subscription === node, 'the node event')
    await c.next(n => n.subscription === all && n.result.path === '/docs/a', 'the /docs change on the "/" subscription')
    const cat = await c.next(n => n.subscription === photos, 'the /photos change')
    assert.equal(cat.result.path, '/photos/cat.jpg')
    assert.equal(cat.result.conflict, true)
    assert.ok(!c.notifications.some(n => n.subscription === photos && n.result.path === '/docs/a'), '/docs/a is not under /photos')
    assert.deepEqual(c.notifications.find(n => n.subscription === node)?.result, { type: 'peer.joined', peer: '12D3KooWpeer' })
    const raw = c.messages.find(m => m.method === 'subscription')
    assert.deepEqual(Object.keys(raw).sort(), ['jsonrpc', 'method', 'params'])

    assert.equal(await c.call('name.unsubscribe', { subscription: photos }), true)
    assert.equal(await c.call('name.unsubscribe', [photos]), false, 'already gone')
    assert.equal(await c.call('name.unsubscribe', [node]), false, 'a node subscription is not a name subscription')
    const before = c.notifications.length
    stub.emitName('/photos/dog.jpg')
    await c.next(n => n.subscription === all && n.result.path === '/photos/dog.jpg', 'the change on "/"')
    assert.equal(c.notifications.length, before + 1, 'nothing for the unsubscribed id')

    await assert.rejects(c.call('name.subscribe', { prefix: 'no-slash' }), (err: any) => err.data?.code === 'ERR_INVALID_ARGUMENT')
    await assert.rejects(c.call('name.subscribe', { prefix: '/a', other: 1 }), (err: any) => err.rpcCode === -32602)
    assert.equal(stub.names.size, 1)
    assert.equal(server.webSocketStats().subscriptions, 2)
    await c.close()
    await waitFor(() => server.webSocketStats().subscriptions === 0, 'the subscriptions to end with the socket', 5000, 20)
    assert.equal(stub.names.size, 0)
    assert.equal(stub.watchers.size, 0)
  })

  it('over HTTP the subscribe methods answer ERR_SUBSCRIPTION', async () => {
    for (const method of ['name.subscribe', 'node.subscribe', 'name.unsubscribe']) {
      const params = method === 'name.unsubscribe' ? ['0x00'] : undefined
      const reply = await httpRequest(port, '/rpc', { method: 'POST', token, body: Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method, params })) })
      assert.equal(reply.json.error.code, -32000, method)
      assert.equal(reply.json.error.data.code, 'ERR_SUBSCRIPTION')
      assert.match(reply.json.error.message, /WebSocket only/)
    }
  })

  it(`a socket holds at most ${MAX_SUBSCRIPTIONS_PER_SOCKET} subscriptions`, async () => {
    const c = await connect({ token })
    for (let i = 0; i < MAX_SUBSCRIPTIONS_PER_SOCKET; i++) await c.call('node.subscribe')
    await assert.rejects(c.call('node.subscribe'), (err: any) => err.data?.code === 'ERR_SUBSCRIPTION' && /at most|most one socket/.test(err.message))
    assert.equal(server.webSocketStats().subscriptions, MAX_SUBSCRIPTIONS_PER_SOCKET)
  })

  it('closes a subscriber that does not read, instead of queueing without bound', async () => {
    const slow = await connect({ token })
    await slow.call('name.subscribe', ['/'])
    slow.ws.pause()
    const payload = 'x'.repeat(64 * 1024)
    // 64 MiB offered in all: far more than the socket buffers hold
    for (let i = 0; i < 1024 && server.webSocketStats().subscriptions > 0; i++) {
      stub.emitName('/big', { context: payload })
      if (i % 16 === 0) await sleep(1)
    }
    await waitFor(() => server.webSocketStats().sockets === 0, 'the slow socket to be closed', 10_000, 20)
    assert.ok(lines.some(l => /does not take its messages/.test(l)), 'the warning is logged')
    slow.ws.resume()
    const closed = await slow.closed
    assert.ok(closed.code === 1008 || closed.code === 1006, `closed with ${closed.code}`)
    // the server goes on
    assert.deepEqual(await (await connect({ token })).call('test.echo', [1]), [1])
  })

  it('closing the server closes its sockets (1001) and ends their subscriptions', async () => {
    const other = await startRpcServer({ listen: '127.0.0.1:0', token, methods })
    const c = await connectWs(Number(other.address.split(':')[1]), { token })
    await c.call('node.subscribe')
    const watching = stub.watchers.size
    const started = Date.now()
    await other.close()
    const closed = await c.closed
    assert.equal(closed.code, 1001)
    assert.match(closed.reason, /stopping/)
    assert.ok(Date.now() - started < 3000)
    assert.equal(stub.watchers.size, watching - 1)
  })

  it('plain HTTP is unchanged on the same path', async () => {
    const reply = await httpRequest(port, '/rpc', { method: 'POST', token, body: Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'test.echo', params: [5] })) })
    assert.equal(reply.status, 200)
    assert.deepEqual(reply.json.result, [5])
    // a GET without an upgrade is still 405
    assert.equal((await httpRequest(port, '/rpc', { token })).status, 405)
  })
})
