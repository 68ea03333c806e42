/**
 * Shared by the names tests: fixed Ed25519 keys from seeds (so signatures and
 * fixture bytes are reproducible), a few CIDs, and the golden fixture record.
 */
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createContext } from '../../src/names/dvv.ts'
import { mergeRecords, writeRecord } from '../../src/names/merge.ts'
import type { NameRecord } from '../../src/names/record.ts'

export interface TestNode {
  id: string
  privateKey: PrivateKey
}

/** The node whose key is generated from a 32-byte seed filled with `n`. */
export async function testNode (n: number): Promise<TestNode> {
  const privateKey = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(n))
  return { id: peerIdFromPrivateKey(privateKey).toString(), privateKey }
}

export async function testNodes (count: number): Promise<TestNode[]> {
  return Promise.all(Array.from({ length: count }, async (_, i) => testNode(i + 1)))
}

export const CIDS = [
  'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
  'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi',
  'QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR'
]

/**
 * The record in test/fixtures/names/record-v1.cbor, built from seeded keys:
 * node 1 writes blind (1,1); node 2 writes blind (2,1) with meta; node 1
 * writes blind again (1,2); node 3 deletes with a context that saw only
 * (1,2) (a loose dot), which replaces (1,2) and nothing else.
 */
export async function fixtureRecord (): Promise<NameRecord> {
  const [a, b, c] = await testNodes(3)
  const key = '/photos/cat.jpg'
  const s1 = await writeRecord(undefined, { key, value: { cid: CIDS[0], size: 1234, mode: 0o100644 }, actor: a.id, privateKey: a.privateKey, now: 1_700_000_000_000 })
  const s2 = await writeRecord(undefined, { key, value: { cid: CIDS[1], size: 99, meta: { camera: 'x100', author: 'ana' } }, actor: b.id, privateKey: b.privateKey, now: 1_700_000_100_000 })
  const s3 = await writeRecord(s1.record, { key, value: { cid: CIDS[2], size: 7 }, actor: a.id, privateKey: a.privateKey, now: 1_700_000_200_000 })
  const seen = createContext({}, [{ actor: a.id, counter: 2 }])
  const s4 = await writeRecord(undefined, { key, value: { deleted: true }, context: seen, actor: c.id, privateKey: c.privateKey, now: 1_700_000_300_000 })
  return [s2.record, s3.record, s4.record].reduce(mergeRecords)
}
