import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { PeerRefusedError } from '../../src/errors.ts'
import type { Membership } from '../../src/replication/membership.ts'
import { blockKey, closestPeers } from '../../src/replication/placement.ts'
import { Replicator } from '../../src/replication/push.ts'
import type { ReplicationProgress } from '../../src/replication/push.ts'
import type { BlockSessions } from '../../src/replication/sessions.ts'

async function peer (): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

async function block (size = 1000): Promise<{ cid: CID, bytes: Uint8Array }> {
  const bytes = new Uint8Array(randomBytes(size))
  return { cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes }
}

/** A peer that answers HAVE with `has`, and PUTs after `delayMs`, counting what is in flight. */
class FakePeer {
  readonly id: PeerId
  readonly stored = new Map<string, Uint8Array>()
  inFlight = 0
  maxInFlight = 0
  fail = false
  /** at its storage quota: PUTs are refused with ERR_STORAGE_FULL */
  full = false
  /** the depth (k) each PUT said */
  depths: Array<number | undefined> = []
  delayMs = 5

  constructor (id: PeerId) {
    this.id = id
  }

  async have (cids: CID[]): Promise<boolean[]> {
    if (this.fail) throw new Error('peer gone')
    return cids.map(c => this.stored.has(c.toString()))
  }

  async put (blocks: Array<{ cid: CID, bytes: Uint8Array }>, options: { k?: number } = {}): Promise<boolean[]> {
    this.depths.push(options.k)
    if (this.full) throw new PeerRefusedError('storage quota used up', 'ERR_STORAGE_FULL')
    this.inFlight++
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
    try {
      await new Promise(resolve => setTimeout(resolve, this.delayMs))
      if (this.fail) throw new Error('peer gone')
      for (const b of blocks) this.stored.set(b.cid.toString(), b.bytes)
      return blocks.map(() => true)
    } finally {
      this.inFlight--
    }
  }
}

async function network (n: number): Promise<{ self: PeerId, peers: FakePeer[], membership: Membership, sessions: BlockSessions }> {
  const self = await peer()
  const peers = await Promise.all(Array.from({ length: n }, async () => new FakePeer(await peer())))
  const all = [self, ...peers.map(p => p.id)]
  const full = new Set<string>()
  const membership = {
    self,
    peers: () => peers.map(p => p.id),
    replicaSet: (key: Uint8Array, k: number) => closestPeers(key, all.filter(p => !full.has(p.toString())), k),
    markFull: (p: PeerId) => { full.add(p.toString()) },
    fullCount: () => full.size,
    lookupReplicaSet: async () => { throw new Error('no lookup expected') }
  } as unknown as Membership
  const sessions = {
    call: async (id: PeerId, fn: (s: FakePeer) => Promise<unknown>) => await fn(peers.find(p => p.id.equals(id)) as FakePeer)
  } as unknown as BlockSessions
  return { self, peers, membership, sessions }
}

describe('replication/push: the streamed Replicator', () => {
  it('sends each block to the other members of its replica set, the bytes it was given, and reports every replica', async () => {
    const { self, peers, membership, sessions } = await network(4)
    const events: ReplicationProgress[] = []
    const replicator = new Replicator({ membership, sessions }, { k: 3, quorum: 3, onProgress: e => { events.push(e) } })
    const blocks = await Promise.all(Array.from({ length: 40 }, async () => await block()))
    for (const b of blocks) await replicator.add(b.cid, b.bytes)
    const report = await replicator.finish()
    assert.deepEqual(report, { blocks: 40, k: 3, quorum: 3, replicas: [0, 0, 0, 40], short: 0, reachable: 3 })
    const all = [self, ...peers.map(p => p.id)]
    for (const b of blocks) {
      const set = closestPeers(blockKey(b.cid), all, 3)
      for (const p of peers) {
        const inSet = set.some(s => s.equals(p.id))
        assert.equal(p.stored.get(b.cid.toString()), inSet ? b.bytes : undefined, 'the very bytes given, only to members of the set')
      }
    }
    assert.deepEqual(events.at(-1), { type: 'replicate:confirmed', detail: { confirmed: 120, wanted: 120 } })
  })

  it('keeps at most `window` batches in flight per peer, the adds waiting meanwhile', async () => {
    const { peers, membership, sessions } = await network(2)
    for (const p of peers) p.delayMs = 20
    const replicator = new Replicator({ membership, sessions }, { k: 3, quorum: 3, window: 2, batch: 2 })
    const blocks = await Promise.all(Array.from({ length: 30 }, async () => await block()))
    let waited = 0
    for (const b of blocks) {
      const started = performance.now()
      await replicator.add(b.cid, b.bytes)
      if (performance.now() - started >= 10) waited++
      for (const p of peers) assert.ok(p.inFlight <= 2, `in flight ${p.inFlight}`)
    }
    const report = await replicator.finish()
    assert.equal(report.short, 0)
    for (const p of peers) assert.equal(p.maxInFlight, 2)
    assert.ok(waited > 0, 'some adds waited for a full window')
  })

  it('does not send what a peer already has', async () => {
    const { peers, membership, sessions } = await network(2)
    const b = await block()
    for (const p of peers) p.stored.set(b.cid.toString(), b.bytes)
    let puts = 0
    for (const p of peers) {
      const put = p.put.bind(p)
      p.put = async (blocks) => { puts++; return await put(blocks) }
    }
    const replicator = new Replicator({ membership, sessions }, { k: 3, quorum: 3 })
    await replicator.add(b.cid, b.bytes)
    assert.deepEqual((await replicator.finish()).replicas, [0, 0, 0, 1])
    assert.equal(puts, 0)
  })

  it('a peer that fails leaves its blocks short, the others confirmed', async () => {
    const { peers, membership, sessions } = await network(2)
    peers[0].fail = true
    const replicator = new Replicator({ membership, sessions }, { k: 3, quorum: 3 })
    const blocks = await Promise.all(Array.from({ length: 10 }, async () => await block()))
    for (const b of blocks) await replicator.add(b.cid, b.bytes)
    const report = await replicator.finish()
    // k = 3 of 3 nodes: every block's set is everyone, so each misses the failed peer's copy
    assert.deepEqual(report.replicas, [0, 0, 10, 0])
    assert.equal(report.short, 10)
    assert.equal(peers[1].stored.size, 10)
  })

  it('a peer at its storage quota: its blocks go to the next nearest, told to take them that deep', async () => {
    const { self, peers, membership, sessions } = await network(4)
    const all = [self, ...peers.map(p => p.id)]
    const [full] = peers
    full.full = true
    const replicator = new Replicator({ membership, sessions }, { k: 2, quorum: 2 })
    const blocks = await Promise.all(Array.from({ length: 30 }, async () => await block()))
    for (const b of blocks) await replicator.add(b.cid, b.bytes)
    const report = await replicator.finish()
    assert.equal(report.short, 0, 'every block has its 2 copies')
    assert.equal(full.stored.size, 0)
    for (const b of blocks) {
      const placed = closestPeers(blockKey(b.cid), all, 2)
      if (!placed.some(p => p.equals(full.id))) continue
      // its copy went to the third nearest instead (or stayed here, when that is this node)
      const third = closestPeers(blockKey(b.cid), all, 3)[2]
      const holder = peers.find(p => p.id.equals(third))
      assert.ok(third.equals(self) || holder?.stored.has(b.cid.toString()), 'the next nearest holds it')
    }
    const rerouted = peers.slice(1).flatMap(p => p.depths).filter(d => d === 3)
    assert.ok(rerouted.length > 0, 'PUTs after the refusal say k + 1 (one member skipped)')
  })

  it('stops with AbortedError once aborted', async () => {
    const { membership, sessions } = await network(2)
    const controller = new AbortController()
    const replicator = new Replicator({ membership, sessions }, { k: 3, quorum: 3, signal: controller.signal })
    const b = await block()
    await replicator.add(b.cid, b.bytes)
    controller.abort()
    await assert.rejects(replicator.add((await block()).cid, b.bytes), { name: 'AbortedError' })
    await assert.rejects(replicator.finish(), { name: 'AbortedError' })
  })
})
