import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { decode as cborDecode, encode as cborEncode } from 'cborg'
import { InvalidArgumentError, InvalidRecordError, InvalidSignatureError } from '../../src/errors.ts'
import { createContext } from '../../src/names/dvv.ts'
import { mergeRecords, recordContext, resolveView, writeRecord } from '../../src/names/merge.ts'
import {
  DEFAULT_RECORD_LIMITS, decodeContext, decodeRecord, encodeContext, encodeRecord, verifyRecord
} from '../../src/names/record.ts'
import type { NameRecord, Sibling } from '../../src/names/record.ts'
import { CIDS, fixtureRecord, testNodes } from './helpers.ts'
import type { TestNode } from './helpers.ts'

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/names')
const UPDATE = process.env.SHOAL_UPDATE_FIXTURES === '1'

/** The CBOR of a record as maps, to tamper with. */
function raw (bytes: Uint8Array): Map<string, any> {
  return cborDecode(bytes, { useMaps: true }) as Map<string, any>
}

function rejectsDecode (bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(() => decodeRecord(bytes), (err: Error) => {
    assert.ok(err instanceof InvalidRecordError, `expected InvalidRecordError, got ${err.name}: ${err.message}`)
    assert.match(err.message, pattern)
    return true
  })
}

async function rejectsVerify (record: NameRecord, pattern: RegExp): Promise<void> {
  await assert.rejects(verifyRecord(record), (err: Error) => {
    assert.ok(err instanceof InvalidSignatureError, `expected InvalidSignatureError, got ${err.name}: ${err.message}`)
    assert.match(err.message, pattern)
    return true
  })
}

describe('names/record', () => {
  let nodes: TestNode[]
  let a: TestNode
  let b: TestNode
  let record: NameRecord

  before(async () => {
    nodes = await testNodes(3)
    ;[a, b] = nodes
    record = await fixtureRecord()
  })

  describe('golden fixture', () => {
    it('the record built from seeded keys encodes to the fixture bytes, which decode and re-encode identically', async () => {
      const file = path.join(FIXTURES, 'record-v1.cbor')
      const built = encodeRecord(record)
      if (UPDATE) {
        await fs.mkdir(FIXTURES, { recursive: true })
        await fs.writeFile(file, built)
      }
      const golden = new Uint8Array(await fs.readFile(file))
      assert.deepEqual(built, golden, 'the encoding changed: bump RECORD_VERSION, or regenerate with SHOAL_UPDATE_FIXTURES=1 if that is intended')
      const decoded = decodeRecord(golden)
      assert.deepEqual(encodeRecord(decoded), golden)
      await verifyRecord(decoded)
      assert.equal(decoded.key, '/photos/cat.jpg')
      // canonical order: by dot (actor id, then counter)
      assert.deepEqual(decoded.siblings.map(s => [s.dot.actor, s.dot.counter]), [[a.id, 1], [b.id, 1], [nodes[2].id, 1]].sort())
      const by = (id: string): Sibling => decoded.siblings.find(s => s.value.owner === id) as Sibling
      assert.deepEqual(by(a.id).value, { cid: CIDS[0], size: 1234, mode: 0o100644, mtime: 1_700_000_000_000, owner: a.id })
      assert.deepEqual((by(b.id).value as { meta?: unknown }).meta, { author: 'ana', camera: 'x100' })
      assert.deepEqual(by(nodes[2].id).value, { deleted: true, mtime: 1_700_000_300_000, owner: nodes[2].id })
      assert.deepEqual(by(nodes[2].id).context, createContext({}, [{ actor: a.id, counter: 2 }]))
    })

    it('the context token has fixed bytes too', async () => {
      const file = path.join(FIXTURES, 'context-v1.txt')
      const token = encodeContext(recordContext(record))
      if (UPDATE) await fs.writeFile(file, token + '\n')
      assert.equal(token, (await fs.readFile(file, 'utf8')).trim())
      assert.deepEqual(decodeContext(token), recordContext(record))
      assert.deepEqual(decodeContext(token).vector, { [a.id]: 2, [b.id]: 1, [nodes[2].id]: 1 })
    })
  })

  it('round-trips records and contexts', async () => {
    const bytes = encodeRecord(record)
    const back = decodeRecord(bytes)
    assert.deepEqual(back.siblings.map(s => s.value), record.siblings.map(s => s.value))
    assert.deepEqual(encodeRecord(back), bytes)
    const ctx = createContext({ [a.id]: 3 }, [{ actor: b.id, counter: 5 }])
    assert.deepEqual(decodeContext(encodeContext(ctx)), ctx)
    assert.deepEqual(decodeContext(''), createContext())
  })

  describe('signatures', () => {
    it('rejects a forged signature', async () => {
      // node 2 signs a value claiming node 1 as its owner: same bytes, wrong key
      const forged = await writeRecord(undefined, { key: '/x', value: { cid: CIDS[0], size: 1 }, actor: a.id, privateKey: b.privateKey, now: 1 })
      const s = forged.written
      const claimed: Sibling = { ...s, value: { ...s.value, owner: a.id } }
      await rejectsVerify({ key: '/x', siblings: [claimed] }, /does not match/)
      // a flipped bit
      const sig = Uint8Array.from(s.signature)
      sig[10] ^= 1
      await rejectsVerify({ key: '/x', siblings: [{ ...s, signature: sig }] }, /does not match/)
      await verifyRecord(forged.record)
    })

    it('rejects a tampered vector: a changed context or dot breaks the signature', async () => {
      // s2 obsoleted nothing; a relay widens its context to cover s1 so that s1 is dropped
      const s1 = record.siblings.find(s => s.value.owner === a.id) as Sibling
      const s2 = record.siblings.find(s => s.value.owner === b.id) as Sibling
      const widened: Sibling = { ...s2, context: createContext({ [a.id]: 1 }) }
      const tampered = mergeRecords({ key: record.key, siblings: [s1, widened] }, { key: record.key, siblings: [] })
      assert.equal(tampered.siblings.length, 1, 'the widened context obsoletes s1 structurally')
      const bytes = encodeRecord(tampered)
      await rejectsVerify(decodeRecord(bytes), new RegExp(`write \\(${b.id}, 1\\).*does not match`))
      // a bumped dot
      await rejectsVerify({ key: record.key, siblings: [{ ...s1, dot: { actor: s1.dot.actor, counter: 9 } }] }, /does not match/)
      // the same siblings under another key
      await rejectsVerify({ key: '/photos/dog.jpg', siblings: record.siblings }, /does not match/)
      // a changed value
      await rejectsVerify({ key: record.key, siblings: [{ ...s1, value: { ...s1.value, size: 1 } }] }, /does not match/)
    })

    it('rejects an owner that is not a peer id holding an Ed25519 key', async () => {
      const s = record.siblings[0]
      await rejectsVerify({ key: record.key, siblings: [{ ...s, value: { ...s.value, owner: 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N' } }] }, /Ed25519 public key/)
      await rejectsVerify({ key: record.key, siblings: [{ ...s, value: { ...s.value, owner: 'notapeerid' } }] }, /Invalid signature/)
    })

    it('writeRecord refuses an owner other than the signer', async () => {
      await assert.rejects(writeRecord(undefined, { key: '/x', value: { cid: CIDS[0], size: 1, owner: b.id }, actor: a.id, privateKey: a.privateKey, now: 1 }), InvalidArgumentError)
    })
  })

  describe('decoding', () => {
    let bytes: Uint8Array
    before(() => { bytes = encodeRecord(record) })

    /** Index in the record of the sibling written by `node`. */
    const at = (node: TestNode): number => record.siblings.findIndex(s => s.value.owner === node.id)

    function tamper (edit: (top: Map<string, any>) => void): Uint8Array {
      const top = raw(bytes)
      edit(top)
      return cborEncode(top)
    }

    it('rejects counters >= 2^53 in dots and contexts', () => {
      rejectsDecode(tamper(t => { t.get('sibs')[0].get('dot')[1] = 2 ** 53 }), /dot counter 9007199254740992 is not an integer 1 <= n < 2\^53/)
      rejectsDecode(tamper(t => { t.get('sibs')[0].get('dot')[1] = 2n ** 64n - 1n }), /dot counter 18446744073709551615n is not an integer/)
      rejectsDecode(tamper(t => { t.get('sibs')[at(nodes[2])].get('ctx')[1][0][1] = 2 ** 60 }), /counter 1152921504606847000 is not an integer 1 <= n < 2\^53/)
      rejectsDecode(tamper(t => { t.get('sibs')[at(nodes[2])].get('ctx')[0].push([a.id, 2 ** 53]) }), /counter 9007199254740992 is not/)
      rejectsDecode(tamper(t => { t.get('sibs')[0].get('dot')[1] = 0 }), /dot counter 0/)
      rejectsDecode(tamper(t => { t.get('sibs')[0].get('dot')[1] = -1 }), /dot counter -1/)
      rejectsDecode(tamper(t => { t.get('sibs')[0].get('dot')[1] = 1.5 }), /dot counter 1.5/)
    })

    it('rejects malformed fields', () => {
      rejectsDecode(tamper(t => { t.set('v', 2) }), /unsupported version 2/)
      rejectsDecode(tamper(t => { t.set('extra', 1) }), /unexpected field "extra"/)
      rejectsDecode(tamper(t => { t.delete('key') }), /missing field "key"/)
      rejectsDecode(tamper(t => { t.set('key', '/photos//cat.jpg') }), /not a normalised name/)
      rejectsDecode(tamper(t => { t.set('sibs', []) }), /non-empty array of siblings/)
      rejectsDecode(tamper(t => { t.get('sibs')[0].get('val').set('size', -1) }), /size: expected an integer/)
      rejectsDecode(tamper(t => { t.get('sibs')[0].get('val').set('mtime', 1.25) }), /mtime: expected an integer/)
      rejectsDecode(tamper(t => { t.get('sibs')[0].get('val').set('cid', 'not-a-cid') }), /Invalid value cid/)
      rejectsDecode(tamper(t => { t.get('sibs')[0].get('val').set('owner', 'has space') }), /owner/)
      rejectsDecode(tamper(t => { t.get('sibs')[0].get('val').set('color', 'red') }), /unexpected field "color"/)
      rejectsDecode(tamper(t => { t.get('sibs')[at(nodes[2])].get('val').set('deleted', false) }), /"deleted" must be true/)
      rejectsDecode(tamper(t => { t.get('sibs')[0].set('sig', new Uint8Array(63)) }), /signature must be 64 bytes/)
      rejectsDecode(tamper(t => { t.get('sibs')[0].get('dot')[0] = 'a b' }), /dot actor/)
      rejectsDecode(tamper(t => { t.get('sibs')[0].get('val').set('meta', new Map([['k', 1]])) }), /values must be well-formed strings/)
    })

    it('rejects what breaks the causal rules: own dot in the context, duplicates, obsoleted siblings', () => {
      rejectsDecode(tamper(t => { t.get('sibs')[at(a)].set('ctx', [[[a.id, 1]], []]) }), /its context includes its own dot/)
      rejectsDecode(tamper(t => { t.get('sibs').push(t.get('sibs')[0]) }), /duplicated, out of order, or obsoleted/)
      rejectsDecode(tamper(t => { t.get('sibs').reverse() }), /duplicated, out of order, or obsoleted/)
      // b's write claims to have seen a's: a's should not be in the record any more
      rejectsDecode(tamper(t => { t.get('sibs')[at(b)].set('ctx', [[[a.id, 1]], []]) }), /obsoleted by another sibling/)
    })

    it('rejects non-canonical CBOR', () => {
      // the same data with a non-minimal integer (version 1 as 0x18 0x01)
      const hex = Buffer.from(bytes).toString('hex')
      const vAt = hex.indexOf('617601') // "v": 1
      assert.ok(vAt >= 0)
      const longInt = Buffer.from(hex.slice(0, vAt) + '61761801' + hex.slice(vAt + 6), 'hex')
      rejectsDecode(new Uint8Array(longInt), /not valid canonical CBOR|not canonically encoded/)
      // a context not in normal form: a loose dot that belongs in the vector
      rejectsDecode(tamper(t => { t.get('sibs')[0].set('ctx', [[], [['SomeOtherPeer', 1]]]) }), /not canonically encoded/)
      // the top-level map by hand: the fixture's siblings under a given key, keys in a given order
      const sibs = cborEncode(raw(bytes).get('sibs'))
      const text = (t: string): number[] => [0x60 + Buffer.byteLength(t), ...Buffer.from(t)]
      const v1 = [...text('v'), 0x01]
      const keyOf = (k: number[]): number[] => [...text('key'), 0x60 + k.length, ...k]
      const handmade = (...parts: number[][]): Uint8Array => new Uint8Array([0xa3, ...parts.flat(), ...text('sibs'), ...sibs])
      const good = [...Buffer.from('/photos/cat.jpg')]
      assert.deepEqual(handmade(v1, keyOf(good)), bytes, 'the handmade encoding is right')
      // map keys out of canonical order ("key" before "v")
      rejectsDecode(handmade(keyOf(good), v1), /not canonically encoded/)
      // invalid UTF-8 in the key (it would decode as U+FFFD)
      rejectsDecode(handmade(v1, keyOf([0x2f, 0xff])), /not canonically encoded/)
      // a CBOR tag
      rejectsDecode(new Uint8Array([0xd8, 0x2a, 0x01]), /not valid canonical CBOR/)
      rejectsDecode(new Uint8Array([0xff]), /not valid canonical CBOR/)
      rejectsDecode(new Uint8Array([]), /not valid canonical CBOR/)
      // trailing bytes
      rejectsDecode(new Uint8Array([...bytes, 0x00]), /not valid canonical CBOR|not canonically encoded/)
    })

    it('enforces the size limits', () => {
      assert.equal(decodeRecord(bytes).siblings.length, 3)
      assert.throws(() => decodeRecord(bytes, { maxBytes: bytes.length - 1 }), /bytes, the limit is/)
      assert.throws(() => decodeRecord(bytes, { maxSiblings: 2 }), /3 siblings, the limit is 2/)
      assert.throws(() => decodeRecord(bytes, { maxContextEntries: 0 }), /limit is 0/)
      assert.throws(() => decodeRecord(bytes, { maxMetaEntries: 1 }), /meta: 2 entries, the limit is 1/)
      assert.throws(() => decodeRecord(bytes, { maxMetaBytes: 10 }), /meta: 19 bytes, the limit is 10/)
      assert.throws(() => decodeRecord(bytes, { maxCidLength: 20 }), /cid/)
      assert.ok(DEFAULT_RECORD_LIMITS.maxBytes >= 1024 * 1024)
    })

    it('encodeRecord refuses what decodeRecord would refuse', async () => {
      assert.throws(() => encodeRecord({ key: 'x', siblings: record.siblings }), InvalidRecordError)
      assert.throws(() => encodeRecord({ key: record.key, siblings: [] }), /no siblings/)
      assert.throws(() => encodeRecord({ key: record.key, siblings: [...record.siblings].reverse() }), /out of order/)
      assert.throws(() => encodeRecord(record, { ...DEFAULT_RECORD_LIMITS, maxBytes: 100 }), /limit is 100/)
    })

    it('rejects a garbage context token', () => {
      assert.throws(() => decodeContext('!!!'), InvalidArgumentError)
      assert.throws(() => decodeContext(Buffer.from(cborEncode([2, [], []])).toString('base64url')), /not a version 1 context/)
      assert.throws(() => decodeContext(Buffer.from(cborEncode([1, [[a.id, 2 ** 53]], []])).toString('base64url')), /2\^53/)
      assert.throws(() => decodeContext(Buffer.from(cborEncode([1, [], [[a.id, 1]]])).toString('base64url')), /not canonically encoded/)
    })
  })

  it('a view of the fixture: two live values in conflict, the tombstone listed, the latest mtime shown first', () => {
    const view = resolveView(record)
    assert.equal(view.exists, true)
    assert.equal(view.conflict, true)
    assert.equal(view.siblings.length, 3)
    assert.deepEqual(view.values.map(v => v.cid), [CIDS[1], CIDS[0]])
    assert.equal(view.value?.cid, CIDS[1])
  })
})
