/**
 * ShoalClient (`shoal/client`) against a real test daemon: typed calls,
 * an add with progress events, a cat stream, a subscription receiving a name
 * change made on another node, errors in shoal's words; and the example app
 * (examples/watch-names.ts) run once as a process.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import crypto from 'node:crypto'
import path from 'node:path'
import { Readable } from 'node:stream'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { DaemonUnreachableError, RpcError, ShoalClient } from 'shoal/client'
import type { NotificationOf, ProgressEventOf } from 'shoal/client'
import { isDeno } from '../../src/platform/runtime.ts'
import { startTestDaemon } from '../helpers/daemon.ts'
import type { TestDaemon } from '../helpers/daemon.ts'
import { waitForMembership } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/tmp.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')

async function bytesOf (stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(Buffer.from(chunk))
  return Buffer.concat(chunks)
}

describe('ShoalClient (shoal/client)', function () {
  this.timeout(120_000)
  let a: TestDaemon
  let b: TestDaemon
  let client: ShoalClient

  before(async () => {
    // two daemons that both hold every name: a change made on b reaches a's subscribers
    a = await startTestDaemon({ config: { replicas: 2 } })
    b = await startTestDaemon({ config: { replicas: 2, bootstrap: [a.daemon.node.addresses()[0]] } })
    await waitForMembership([a.daemon.node, b.daemon.node])
    client = await ShoalClient.fromRepo(a.repo)
  })
  after(async () => {
    await client?.close()
    await Promise.allSettled([a?.stop(), b?.stop()])
  })

  it('finds the daemon of a repo and calls methods, typed by the table', async () => {
    assert.equal(client.endpoint.address, a.daemon.rpcAddress)
    const id = await client.call('node.id')
    assert.equal(id.peerId, a.daemon.node.id().peerId)
    const peers = await client.call('peer.list', {})
    assert.ok(peers.some(p => p.peerId === b.daemon.node.id().peerId))
  })

  it('adds a stream with progress events, then cats it back as a stream (whole and a range)', async () => {
    const data = crypto.randomBytes(3 * 1024 * 1024 + 5)
    const events: ProgressEventOf[] = []
    const added = await client.add(Readable.from([data.subarray(0, 1_000_000), data.subarray(1_000_000)]), { onProgress: e => { events.push(e) } })
    assert.equal(added.size, data.length)
    assert.deepEqual(added.cid, (await a.request('/api/v1/add?pin=false', { method: 'POST', body: data })).json.cid, 'the same CID as a plain upload')
    const read = events.filter(e => e.type === 'import:read')
    assert.ok(read.length > 0, `import:read events: ${JSON.stringify(events)}`)
    assert.ok(events.some(e => e.type === 'replicate:confirmed' || e.type === 'add:stored'), JSON.stringify(events))
    assert.ok(read.every(e => e.type === 'import:read' && e.detail.bytes <= data.length))

    const whole = await client.cat(added.cid)
    assert.equal(Number(whole.headers['content-length']), data.length)
    assert.ok((await bytesOf(whole)).equals(data))
    const part = await client.cat(added.cid, { query: { offset: 100, length: 50 } })
    assert.ok((await bytesOf(part)).equals(data.subarray(100, 150)))
    const block = await client.blockGet((await client.call('content.refs', { cid: added.cid }))[0])
    assert.ok((await bytesOf(block)).equals(data.subarray(0, 262144)))
  })

  it('a long call over the WebSocket reports its progress before the answer (pin.add, repo.gc); over HTTP it just answers', async () => {
    const added = (await a.request('/api/v1/add?pin=false', { method: 'POST', body: crypto.randomBytes(2 * 1024 * 1024) })).json
    const events: Array<{ type: string, detail: any }> = []
    const pinned = await client.callWithProgress('pin.add', { cid: added.cid }, e => { events.push(e) })
    assert.equal(pinned.cid, added.cid)
    const fetched = events.filter(e => e.type === 'pin:fetched')
    assert.ok(fetched.length >= 1, JSON.stringify(events))
    assert.ok(fetched.every(e => e.detail.blocks <= pinned.blocks))
    assert.ok(events.some(e => e.type === 'pin:block' && typeof e.detail.cid === 'string'), JSON.stringify(events))
    // cache that gc removes: blocks stored here that no pin covers and a's share of the network does not hold
    const store = a.daemon.node.store
    for (let i = 0; i < 3; i++) {
      const bytes = crypto.randomBytes(1000)
      await store.blocks.put(CID.createV1(raw.code, await sha256.digest(bytes)), bytes)
    }
    const removed: Array<{ type: string, detail: any }> = []
    const gc = await client.callWithProgress('repo.gc', {}, e => { removed.push(e) })
    assert.ok(gc.removedBlocks >= 3)
    assert.ok(removed.length >= 1 && removed.every(e => e.type === 'gc:removed' && e.detail.freedBytes <= gc.freedBytes), JSON.stringify(removed))
    assert.deepEqual(Object.keys(await client.call('repo.gc')).sort(), ['freedBytes', 'removedBlocks'])
  })

  it('answers errors in shoal\'s words: params (-32602), the node\'s (-32000 with the code), a byte route\'s, an unreachable daemon', async () => {
    await assert.rejects(client.call('content.stat', { cid: 5 } as any), (err: RpcError) => err instanceof RpcError && err.rpcCode === -32602 && /"cid" must be a string/.test(err.message))
    await assert.rejects(client.call('pin.rm', { cid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy' }), (err: RpcError) => err.code === 'ERR_NOT_PINNED')
    await assert.rejects(client.cat('not-a-cid'), (err: RpcError) => err.code === 'ERR_INVALID_CID')
    await assert.rejects(client.add(Buffer.from('x'), { query: { cidVersion: 0 } as any }), (err: RpcError) => err.code === 'ERR_INVALID_ARGUMENT' && /unknown query parameter "cidVersion"/.test(err.message))
    const nowhere = new ShoalClient({ address: '127.0.0.1:1', token: 'x' })
    await assert.rejects(nowhere.call('node.id'), DaemonUnreachableError)
    await assert.rejects(nowhere.subscribe('node.subscribe', {}, () => {}), DaemonUnreachableError)
  })

  it('subscribes over a WebSocket: a name change made on another node arrives, typed; unsubscribe stops it', async () => {
    const changes: Array<NotificationOf<'name.subscribe'>> = []
    const sub = await client.subscribe('name.subscribe', { prefix: '/photos' }, change => { changes.push(change) })
    assert.match(sub.id, /^0x[0-9a-f]+$/)
    const cid = (await b.request('/api/v1/add', { method: 'POST', body: Buffer.from('a cat') })).json.cid
    await b.rpc('name.put', { path: '/photos/cat.jpg', cid })
    await b.rpc('name.put', { path: '/elsewhere', cid })
    await waitFor(() => changes.some(c => c.path === '/photos/cat.jpg' && c.value?.cid === cid), 'the change made on b to reach a\'s subscriber', 20_000, 20)
    assert.ok(changes.every(c => c.path.startsWith('/photos/')), JSON.stringify(changes.map(c => c.path)))
    assert.equal(await sub.unsubscribe(), true)
    const seen = changes.length
    await b.rpc('name.put', { path: '/photos/dog.jpg', cid })
    await waitFor(async () => (await a.rpc('name.get', { path: '/photos/dog.jpg' })).exists === true, 'the write to reach a')
    await new Promise(resolve => setTimeout(resolve, 200))
    assert.equal(changes.length, seen, 'nothing after unsubscribe')
    await client.close()
    assert.equal(a.daemon.webSocketStats().subscriptions, 0)
  })

  it('the example app (examples/watch-names.ts) prints a name change under its prefix', async () => {
    const entry = path.join(ROOT, 'examples', 'watch-names.ts')
    const [cmd, ...pre] = isDeno ? [process.execPath, 'run', '-A', entry] : [process.execPath, entry]
    const child = spawn(cmd, [...pre, '--repo', a.repo, '/albums'], { cwd: ROOT, env: { ...process.env, DENO_NO_UPDATE_CHECK: '1' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (c: Buffer) => { out += c.toString() })
    child.stderr.on('data', (c: Buffer) => { err += c.toString() })
    const exited = once(child, 'close')
    try {
      await waitFor(() => {
        if (child.exitCode != null) throw new Error(`the example exited: ${err}`)
        return err.includes('watching /albums')
      }, 'the example to subscribe', 30_000, 50)
      const cid = (await b.request('/api/v1/add', { method: 'POST', body: Buffer.from('an album') })).json.cid
      await b.rpc('name.put', { path: '/albums/one', cid })
      await b.rpc('name.put', { path: '/other', cid })
      await waitFor(() => out.includes(`/albums/one ${cid}`), `the example to print the change (stdout: ${out})`, 20_000, 50)
      assert.doesNotMatch(out, /\/other/)
      assert.match(out.trim(), /^\d{4}-\d\d-\d\dT\S+ \/albums\/one \S+$/)
    } finally {
      // process.kill, not child.kill: Deno reports a child it kill()ed as ended by the signal even when it exited 0
      if (child.exitCode == null) process.kill(child.pid as number, 'SIGTERM')
    }
    const [code] = await exited
    assert.equal(code, 0, `the example ends quietly on SIGTERM: ${err}`)
  })
})
