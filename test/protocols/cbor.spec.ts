import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import * as cborg from 'cborg'
import * as varint from 'uint8-varint'
import { decodeCbor, encodeCbor, encodeCborWithLength } from '../../src/protocols/cbor.ts'

const strict = { strict: true, rejectDuplicateMapKeys: true, useMaps: false }

function joined (chunks: Uint8Array[]): Buffer {
  return Buffer.concat(chunks)
}

/** A random value of the kinds frames carry, nested up to `depth`. */
function randomValue (depth: number): unknown {
  const kind = Math.floor(Math.random() * (depth > 0 ? 7 : 5))
  switch (kind) {
    case 0: return [0, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER][Math.floor(Math.random() * 10)]
    case 1: return ['', 't', 'block', 'ü€😀', 'x'.repeat(300)][Math.floor(Math.random() * 5)]
    case 2: return Math.random() < 0.5
    case 3: return new Uint8Array(randomBytes([0, 1, 36, 511, 512, 70_000][Math.floor(Math.random() * 6)]))
    case 4: return Math.floor(Math.random() * 1000)
    case 5: return Array.from({ length: Math.floor(Math.random() * 4) }, () => randomValue(depth - 1))
    default: {
      const keys = ['t', 'id', 'i', 'd', 'c', 'b', 'more', 'ü', 'zz']
      const map: Record<string, unknown> = {}
      for (const k of keys) if (Math.random() < 0.5) map[k] = randomValue(depth - 1)
      return map
    }
  }
}

describe('protocols: CBOR without copies', () => {
  it('encodes exactly the bytes cborg does, and decodes to what cborg does', () => {
    for (let n = 0; n < 500; n++) {
      const value = randomValue(3)
      const expected = cborg.encode(value)
      const chunks = encodeCbor(value)
      assert.deepEqual(joined(chunks), Buffer.from(expected), JSON.stringify(value, (_k, v) => v instanceof Uint8Array ? `bytes(${v.length})` : v))
      assert.deepEqual(decodeCbor(joined(chunks)), cborg.decode(expected, strict))
    }
  })

  it('refers to long byte strings instead of copying them, both ways', () => {
    const d = new Uint8Array(randomBytes(256 * 1024))
    const chunks = encodeCbor({ t: 'block', id: 7, i: 0, d })
    assert.ok(chunks.includes(d), 'the block itself is one of the chunks')
    const body = joined(chunks)
    const decoded = decodeCbor(body) as { d: Uint8Array, t: string }
    assert.equal(decoded.t, 'block')
    assert.equal(decoded.d.buffer, body.buffer, 'a view of the body')
    assert.equal(decoded.d.constructor, Uint8Array)
    assert.deepEqual(decoded.d, d)
    // short byte strings are copies: a CID kept for long does not pin a frame
    const short = decodeCbor(joined(encodeCbor({ c: new Uint8Array(36) }))) as { c: Uint8Array }
    assert.notEqual(short.c.buffer, body.buffer)
    assert.equal(short.c.byteLength, short.c.buffer.byteLength)
  })

  it('frames: the varint length, then the same bytes as cborg, the length written into the first chunk', () => {
    const values = [
      ...Array.from({ length: 300 }, () => randomValue(3)),
      { t: 'x', s: 'y'.repeat(100) }, // a length of 1 varint byte, near its end
      { t: 'x', s: 'y'.repeat(200) }, // 2 bytes
      { t: 'x', d: new Uint8Array(20_000) }, // 3 bytes, the block a chunk of its own
      -1, { a: undefined } // cborg's
    ]
    for (const value of values) {
      const expected = cborg.encode(value)
      const { chunks, length } = encodeCborWithLength(value)
      assert.equal(length, expected.byteLength)
      assert.deepEqual(joined(chunks), Buffer.concat([varint.encode(expected.byteLength), expected]))
    }
    const small = encodeCborWithLength({ t: 'get', id: 1, c: [new Uint8Array(36)] })
    assert.equal(small.chunks.length, 1, 'a frame without long byte strings is one chunk')
  })

  it('encodes many different keys and strings alike (keys are cached, within a bound)', () => {
    for (let i = 0; i < 1000; i++) {
      const value = { [`key-${i}`]: `value ü ${i}`, [`ü${'k'.repeat(i % 40)}`]: i }
      assert.deepEqual(joined(encodeCbor(value)), Buffer.from(cborg.encode(value)))
    }
  })

  it('leaves every other value to cborg: the same bytes', () => {
    const others: unknown[] = [-1, 1.5, null, { a: undefined }, { a: [null] }, 2 ** 60, [{ x: -0 }], new Map([['a', 1]])]
    for (const value of others) assert.deepEqual(joined(encodeCbor(value)), Buffer.from(cborg.encode(value)), String(value))
  })

  it('accepts and refuses what cborg accepts and refuses', () => {
    const cases = [
      'a1617401', // {a: 1}
      'a2617401617401', // duplicate key
      'a1617418ff', // {a: 255}
      'a161741801', // non-minimal integer
      'bf617401ff', // indefinite map
      '5f41ff', // indefinite bytes
      'a161746261', // truncated text
      'a16174f6', // null value
      'a161742a00', // trailing byte
      'a1010203', // integer key
      'a161746280', // invalid UTF-8 continuation
      '1bffffffffffffffff', // 2^64 - 1
      'a1697f5f5f70726f746f5f5f01', // odd key
      'a1695f5f70726f746f5f5f01', // {__proto__: 1}
      '8301820203a0' // nested
    ]
    for (const hex of cases) {
      const bytes = Buffer.from(hex, 'hex')
      let expected: unknown
      let expectedError: string | undefined
      try {
        expected = cborg.decode(bytes, strict)
      } catch (err) {
        expectedError = (err as Error).message
      }
      if (expectedError != null) {
        assert.throws(() => decodeCbor(bytes), (err: Error) => err.message === expectedError, hex)
      } else {
        const got = decodeCbor(bytes)
        assert.deepEqual(got, expected, hex)
        assert.equal(Object.getPrototypeOf(got) === Object.getPrototypeOf(expected), true, hex)
      }
    }
  })
})
