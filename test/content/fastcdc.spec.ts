import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { FASTCDC_DEFAULTS, FastCdcCutter, fastcdc, fastcdcCutPoints, gearTable, type FastCdcParams } from '../../src/content/fastcdc.ts'
import { importFile } from '../../src/content/importer.ts'
import { CountingSink, concatStream, keystream, pieces, rejectsWith, sha256hex, stream } from './helpers.ts'

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/content')
const UPDATE = process.env.SHOAL_UPDATE_FIXTURES === '1'

/**
 * SHA-256 of the gear table (256 x uint32, little-endian). Changing the table
 * changes every FastCDC cut point, hence every CID imported with it: this
 * must never change silently.
 */
const GEAR_TABLE_SHA256 = '35f0046df04bd47a34014c47dd053d784c2a31fed7b0a7ef7fafe1be87ac8102'

function gearBytes (): Uint8Array {
  const table = gearTable()
  const out = new Uint8Array(1024)
  const view = new DataView(out.buffer)
  for (let i = 0; i < 256; i++) view.setUint32(i * 4, table[i] >>> 0, true)
  return out
}

/** The gear table re-derived from its definition, independently of the implementation. */
function referenceGear (): number[] {
  const out: number[] = []
  for (let i = 0; i < 256; i++) {
    const d = crypto.createHash('sha256').update(Buffer.concat([Buffer.from('shoal/fastcdc/gear/v1', 'ascii'), Buffer.from([i])])).digest()
    out.push(d.readUInt32BE(0))
  }
  return out
}

/**
 * The cut points as the module comment defines them, written plainly (unsigned
 * arithmetic, one byte at a time, whole buffer): the implementation must agree.
 */
function referenceCuts (bytes: Uint8Array, p: FastCdcParams): number[] {
  if (bytes.length === 0) return [0]
  const gear = referenceGear()
  const bits = Math.round(Math.log2(p.avgSize))
  const top = (k: number): number => (2 ** 32 - 2 ** (32 - k))
  const maskS = top(bits + 2)
  const maskL = top(bits - 2)
  const cuts: number[] = []
  let start = 0
  while (start < bytes.length) {
    const limit = Math.min(bytes.length, start + p.maxSize)
    let end = limit
    let h = 0
    for (let i = start + p.minSize; i < limit; i++) {
      h = (h * 2 + gear[bytes[i]]) % 2 ** 32
      const mask = i - start < p.avgSize ? maskS : maskL
      if ((h & mask) === 0) { // both are < 2^32; & works on their low 32 bits
        end = i + 1
        break
      }
    }
    cuts.push(end)
    start = end
  }
  return cuts
}

async function chunkSizes (bytes: Uint8Array, params: FastCdcParams, split: number[]): Promise<number[]> {
  const sizes: number[] = []
  for await (const c of fastcdc(params)(stream(bytes, split))) sizes.push(c.length)
  return sizes
}

function toCuts (sizes: number[]): number[] {
  let pos = 0
  return sizes.map(s => (pos += s))
}

const SMALL: FastCdcParams = { minSize: 2048, avgSize: 8192, maxSize: 65536 }

describe('content/fastcdc', () => {
  it('has the pinned gear table (golden fixture bytes)', () => {
    const bytes = gearBytes()
    const file = path.join(FIXTURES, 'fastcdc-gear-v1.bin')
    if (UPDATE) fs.writeFileSync(file, bytes)
    const fixture = fs.readFileSync(file)
    assert.equal(sha256hex(fixture), GEAR_TABLE_SHA256, 'the fixture file changed')
    assert.deepEqual(new Uint8Array(fixture), bytes, 'the gear table changed')
    assert.deepEqual(Array.from(gearTable(), v => v >>> 0), referenceGear(), 'the gear table is not the one its definition gives')
  })

  it('cuts where the reference definition cuts, whatever the input buffers', async () => {
    const data = keystream('fastcdc reference', 3 << 20)
    for (const params of [SMALL, FASTCDC_DEFAULTS, { minSize: 64, avgSize: 256, maxSize: 1024 }, { minSize: 4096, avgSize: 4096, maxSize: 4096 }]) {
      const expected = referenceCuts(data, params)
      assert.deepEqual(fastcdcCutPoints(data, params), expected, `whole buffer, ${JSON.stringify(params)}`)
      for (const split of [[1 << 20], [65536], [4093, 1, 7, 250000], [3]]) {
        if (split[0] === 3 && params !== SMALL) continue // byte-sized pieces: one case is enough
        assert.deepEqual(toCuts(await chunkSizes(data, params, split)), expected, `pieces ${split.join(',')}, ${JSON.stringify(params)}`)
      }
    }
  })

  it('cuts at the pinned golden points (fixture)', () => {
    const cases = [
      { name: 'defaults, 8 MiB', seed: 'fastcdc golden 1', length: 8 << 20, params: FASTCDC_DEFAULTS },
      { name: '2048-8192-65536, 1 MiB', seed: 'fastcdc golden 2', length: 1 << 20, params: SMALL }
    ]
    const actual = cases.map(c => ({ ...c, params: { ...c.params }, cuts: fastcdcCutPoints(keystream(c.seed, c.length), c.params) }))
    const file = path.join(FIXTURES, 'fastcdc-cuts-v1.json')
    if (UPDATE) fs.writeFileSync(file, JSON.stringify({ comment: 'shoal FastCDC v1 cut points (chunk end offsets) of AES-256-CTR keystreams (key = SHA-256(seed), zero IV); see test/content/fastcdc.spec.ts', cases: actual }, null, 1) + '\n')
    const fixture = JSON.parse(fs.readFileSync(file, 'utf8')) as { cases: typeof actual }
    assert.deepEqual(actual, fixture.cases)
  })

  it('respects min and max sizes and is deterministic', async () => {
    const data = keystream('fastcdc sizes', 16 << 20)
    const sizes = await chunkSizes(data, FASTCDC_DEFAULTS, [65536])
    assert.equal(sizes.reduce((a, b) => a + b, 0), data.length)
    for (const s of sizes.slice(0, -1)) {
      assert.ok(s >= FASTCDC_DEFAULTS.minSize && s <= FASTCDC_DEFAULTS.maxSize, `chunk of ${s} bytes`)
    }
    assert.ok(sizes[sizes.length - 1] <= FASTCDC_DEFAULTS.maxSize)
    const mean = data.length / sizes.length
    assert.ok(mean > 200 * 1024 && mean < 400 * 1024, `mean chunk ${mean}`)
    assert.deepEqual(await chunkSizes(data, FASTCDC_DEFAULTS, [1 << 20, 333]), sizes)
    // low-entropy input never matches a mask: every chunk is cut at the maximum
    const zeros = await chunkSizes(new Uint8Array(3 << 20), FASTCDC_DEFAULTS, [65536])
    assert.deepEqual(zeros, [1 << 20, 1 << 20, 1 << 20])
  })

  it('yields one empty chunk for an empty input, the remainder last, views when it can', async () => {
    assert.deepEqual(await chunkSizes(new Uint8Array(0), SMALL, [1]), [0])
    assert.deepEqual(await chunkSizes(new Uint8Array(100), SMALL, [7]), [100])
    const data = keystream('fastcdc views', 1 << 20)
    const chunks = []
    for await (const c of fastcdc(SMALL)(stream(data, [data.length]))) chunks.push(c)
    assert.ok(chunks.every(c => c.buffer === data.buffer), 'chunks of one input buffer are views of it')
    assert.deepEqual(await concatStream((async function * () { yield * chunks })()), data)
  })

  it('rejects bad parameters', async () => {
    for (const params of [
      { minSize: 0, avgSize: 8192, maxSize: 65536 },
      { minSize: 32, avgSize: 8192, maxSize: 65536 },
      { minSize: 4096, avgSize: 2048, maxSize: 65536 },
      { minSize: 4096, avgSize: 8192, maxSize: 4096 },
      { minSize: 65536, avgSize: 262144, maxSize: 2 << 20 },
      { minSize: 64, avgSize: 128, maxSize: 1024 },
      { minSize: 1.5, avgSize: 8192, maxSize: 65536 }
    ]) {
      await rejectsWith(async () => fastcdc(params), 'InvalidArgumentError')
      await rejectsWith(async () => new FastCdcCutter(params), 'InvalidArgumentError')
    }
  })

  describe('dedup across edited versions of a 100 MiB file', function () {
    this.timeout(120_000)
    const SIZE = 100 << 20
    const MIDDLE = 50 << 20
    let original: Uint8Array
    before(() => { original = keystream('fastcdc dedup', SIZE) })
    after(() => { original = new Uint8Array(0) })

    function overwritten (): Uint8Array {
      const copy = original.slice()
      copy.set([1, 2, 3, 4, 5], MIDDLE)
      return copy
    }
    function inserted (): Uint8Array {
      const out = new Uint8Array(SIZE + 3)
      out.set(original.subarray(0, MIDDLE))
      out.set([7, 7, 7], MIDDLE)
      out.set(original.subarray(MIDDLE), MIDDLE + 3)
      return out
    }
    async function newBlocks (chunker: string, edited: Uint8Array): Promise<{ first: number, added: number }> {
      const sink = new CountingSink()
      await importFile(pieces(original, 1 << 20), sink, { chunker })
      const first = sink.seen.size
      await importFile(pieces(edited, 1 << 20), sink, { chunker })
      return { first, added: sink.seen.size - first }
    }

    it('fastcdc: overwriting a few bytes adds a handful of blocks', async () => {
      const { first, added } = await newBlocks('fastcdc', overwritten())
      assert.ok(first > 300, `${first} blocks`)
      // the chunk holding the change, its parent, the root
      assert.ok(added >= 2 && added <= 6, `${added} new blocks`)
    })

    it('fastcdc: inserting a few bytes adds a handful of blocks', async () => {
      const { added } = await newBlocks('fastcdc', inserted())
      // one or two leaves around the insertion; the 174-link parents after it and the root
      assert.ok(added >= 2 && added <= 8, `${added} new blocks`)
    })

    it('fixed-size chunks: the same insertion changes every later chunk', async () => {
      const { first, added } = await newBlocks('size-262144', inserted())
      const leavesAfter = (SIZE - MIDDLE) / 262144
      assert.ok(added >= leavesAfter, `${added} new blocks of ${first}: expected at least ${leavesAfter}`)
    })
  })
})
