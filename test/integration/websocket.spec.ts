import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { startTestDaemon } from '../helpers/daemon.ts'
import type { TestDaemon } from '../helpers/daemon.ts'
import { waitForMembership } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/tmp.ts'
import { connectWs, refusedUpgrade } from '../helpers/websocket.ts'
import type { WsClient } from '../helpers/websocket.ts'

async function cidOf (text: string): Promise<string> {
  return CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(text))).toString()
}

describe('WebSocket JSON-RPC and subscriptions between daemons', function () {
  this.timeout(120_000)
  let a: TestDaemon
  let b: TestDaemon
  const clients: WsClient[] = []
  const connect = async (d: TestDaemon, token = d.token): Promise<WsClient> => {
    const c = await connectWs(d.port, { token })
    clients.push(c)
    return c
  }

  before(async () => {
    // two copies of every name: each daemon holds all of them
    a = await startTestDaemon({ config: { replicas: 2, repairGraceSeconds: 0 } })
    b = await startTestDaemon({ config: { replicas: 2, bootstrap: [a.daemon.node.addresses()[0]] } })
    await waitForMembership([a.daemon.node, b.daemon.node])
  })
  afterEach(async () => {
    await Promise.all(clients.splice(0).map(async c => { await c.close() }))
    await waitFor(() => a.daemon.webSocketStats().sockets === 0, 'the server to see the test\'s sockets closed', 5000, 20)
  })
  after(async () => { await Promise.allSettled([a?.stop(), b?.stop()]) })

  it('answers the HTTP table over a WebSocket', async () => {
    const ws = await connect(a)
    assert.deepEqual(await ws.call('node.id'), await a.rpc('node.id'))
    assert.equal((await ws.call('node.health')).storagePeers, 1)
    const cid = await cidOf('over ws')
    const put = await ws.call('name.put', { path: '/ws/put', cid, size: 7 })
    assert.equal(put.value.cid, cid)
    assert.equal((await b.rpc('name.get', { path: '/ws/put' })).value.cid, cid)
    await assert.rejects(ws.call('name.get', { path: 'relative' }), (err: any) => err.data?.code === 'ERR_INVALID_ARGUMENT')
  })

  it('a subscriber on A hears the names written through B under its prefix, and a conflict when both write blind', async () => {
    const ws = await connect(a)
    const sub = await ws.call('name.subscribe', { prefix: '/photos' })
    const cat1 = await cidOf('cat 1')
    await b.rpc('name.put', { path: '/photos/cat.jpg', cid: cat1, size: 5 })
    const first = await ws.next(n => n.subscription === sub && n.result.path === '/photos/cat.jpg', 'the change written on B')
    assert.equal(first.result.value.cid, cat1)
    assert.equal(first.result.exists, true)
    assert.equal(first.result.conflict, false)
    assert.equal(typeof first.result.context, 'string')

    await b.rpc('name.put', { path: '/docs/other', cid: cat1, size: 5 })
    await b.rpc('name.put', { path: '/photosynthesis', cid: cat1, size: 5 })
    await b.rpc('name.put', { path: '/photos/dog.jpg', cid: cat1, size: 5 })
    await ws.next(n => n.result.path === '/photos/dog.jpg', 'the next change under /photos')
    assert.deepEqual(ws.notifications.filter(n => !n.result.path.startsWith('/photos/')), [], 'nothing outside /photos')

    // two writes that do not know of each other (no context): siblings, a conflict
    const [onA, onB] = [await cidOf('cat from A'), await cidOf('cat from B')]
    await Promise.all([
      a.rpc('name.put', { path: '/photos/cat.jpg', cid: onA, size: 5 }),
      b.rpc('name.put', { path: '/photos/cat.jpg', cid: onB, size: 5 })
    ])
    const conflict = await ws.next(n => n.result.path === '/photos/cat.jpg' && n.result.conflict === true &&
      [onA, onB].every(c => n.result.siblings.some((s: any) => s.cid === c)), 'the conflict of A and B')
    assert.ok(conflict.result.siblings.length >= 2)
    assert.deepEqual((await a.rpc('name.conflicts')).map((c: any) => c.path), ['/photos/cat.jpg'])
  })

  it('unsubscribe stops the notifications of that subscription only', async () => {
    const ws = await connect(a)
    const gone = await ws.call('name.subscribe', ['/unsub'])
    const kept = await ws.call('name.subscribe', ['/unsub'])
    assert.equal(await ws.call('name.unsubscribe', { subscription: gone }), true)
    await b.rpc('name.put', { path: '/unsub/x', cid: await cidOf('x'), size: 1 })
    await ws.next(n => n.subscription === kept, 'the kept subscription')
    assert.deepEqual(ws.notifications.filter(n => n.subscription === gone), [])
  })

  it('closing the socket frees its subscriptions (the count the server keeps)', async () => {
    const ws = await connectWs(a.port, { authMessage: a.token })
    await ws.call('name.subscribe', ['/'])
    await ws.call('node.subscribe')
    assert.deepEqual(a.daemon.webSocketStats(), { sockets: 1, subscriptions: 2 })
    await ws.close()
    await waitFor(() => a.daemon.webSocketStats().subscriptions === 0 && a.daemon.webSocketStats().sockets === 0,
      'the socket and its subscriptions to be gone', 5000, 20)
  })

  it('refuses a socket without the token, with a foreign Origin or Host', async () => {
    const none = await connectWs(a.port)
    none.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'node.id' }))
    assert.equal((await none.closed).code, 1008)
    assert.deepEqual(none.messages, [])
    assert.equal(await refusedUpgrade(a.port, { token: a.token, headers: { Origin: 'https://evil.example' } }), 403)
    assert.equal(await refusedUpgrade(a.port, { token: a.token, headers: { Host: 'rebound.example' } }), 403)
  })

  it('node.subscribe sees a repair pass, a peer join and leave, and a health change', async () => {
    const ws = await connect(a)
    const sub = await ws.call('node.subscribe')
    assert.deepEqual(await ws.call('repair.run'), { started: true })
    await ws.next(n => n.subscription === sub && n.result.type === 'repair.started', 'repair.started')
    const ended = await ws.next(n => n.subscription === sub && n.result.type === 'repair.ended', 'repair.ended')
    for (const key of ['pushed', 'pulled', 'handedOff']) assert.equal(typeof ended.result.report[key].blocks, 'number', key)

    const c = await startTestDaemon({ config: { replicas: 2, bootstrap: [a.daemon.node.addresses()[0]] } })
    const cId = c.daemon.node.peerId.toString()
    try {
      await ws.next(n => n.result.type === 'peer.joined' && n.result.peer === cId, 'C to join')
    } finally {
      await c.stop()
    }
    await ws.next(n => n.result.type === 'peer.left' && n.result.peer === cId, 'C to leave')

    // with B gone too, A alone cannot place 2 copies: degraded
    await b.stop()
    const health = await ws.next(n => n.result.type === 'health' && n.result.status === 'degraded', 'A to turn degraded')
    assert.equal(health.result.previous.status, 'ok')
    assert.ok(health.result.problems.length > 0)
  })

  it('token.rotate over a socket: that socket goes on, new sockets with the old token are refused', async () => {
    const ws = await connect(a)
    await ws.call('token.rotate')
    const fresh = (await fs.readFile(a.daemon.paths.rpcToken, 'utf8')).trim()
    assert.notEqual(fresh, a.token)
    assert.equal((await ws.call('node.id')).peerId, a.daemon.node.peerId.toString())
    assert.equal(await refusedUpgrade(a.port, { token: a.token }), 401)
    const late = await connectWs(a.port)
    late.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'rpc.auth', params: { token: a.token } }))
    assert.equal((await late.closed).code, 1008)
    const next = await connect(a, fresh)
    assert.equal((await next.call('node.id')).peerId, a.daemon.node.peerId.toString())
  })
})
