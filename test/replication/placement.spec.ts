import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import * as dagPb from '@ipld/dag-pb'
import { blockKey, closestPeers, compareDistance, kadId, peerKadId } from '../../src/replication/placement.ts'

async function peers (n: number): Promise<PeerId[]> {
  return await Promise.all(Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
}

/** Reference: XOR distance as a BigInt. */
function distance (a: Uint8Array, b: Uint8Array): bigint {
  return BigInt('0x' + Buffer.from(a.map((x, i) => x ^ b[i])).toString('hex'))
}

describe('replication: placement', () => {
  it('maps keys and peers into the keyspace the way kad-dht does (sha2-256)', async () => {
    const [p] = await peers(1)
    assert.deepEqual(peerKadId(p), createHash('sha256').update(p.toMultihash().bytes).digest())
    const digest = await sha256.digest(new TextEncoder().encode('x'))
    const v1 = CID.createV1(raw.code, digest)
    const v0 = CID.createV0(digest as any)
    assert.deepEqual(blockKey(v1), blockKey(v0), 'v0 and v1 of the same bytes share a key')
    assert.deepEqual(blockKey(CID.createV1(dagPb.code, digest)), blockKey(v1), 'the codec does not move a block')
  })

  it('picks the k closest by XOR distance, nearest first, agreeing with a BigInt reference', async () => {
    const all = await peers(20)
    for (let round = 0; round < 20; round++) {
      const key = createHash('sha256').update(String(round)).digest()
      const target = kadId(key)
      const expected = [...all].sort((a, b) => {
        const d = distance(peerKadId(a), target) - distance(peerKadId(b), target)
        return d < 0n ? -1 : d > 0n ? 1 : 0
      }).slice(0, 3)
      assert.deepEqual(closestPeers(key, all, 3).map(String), expected.map(String))
    }
  })

  it('is the same set whoever computes it, whatever the order of candidates', async () => {
    const all = await peers(10)
    const key = new Uint8Array([1, 2, 3])
    const a = closestPeers(key, all, 3).map(String)
    const b = closestPeers(key, [...all].reverse().concat(all), 3).map(String)
    assert.deepEqual(a, b)
    assert.equal(closestPeers(key, all.slice(0, 2), 3).length, 2, 'fewer candidates than k: all of them')
  })

  it('compares distances', () => {
    const t = new Uint8Array([0b1010])
    assert.ok(compareDistance(new Uint8Array([0b1011]), new Uint8Array([0b0010]), t) < 0)
    assert.equal(compareDistance(t, t, t), 0)
  })
})
