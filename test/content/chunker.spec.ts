import assert from 'node:assert/strict'
import { fixedSize, free } from '../../src/content/chunker.ts'
import { importFile, nullSink } from '../../src/content/importer.ts'
import { MemoryBlocks, keystream } from './helpers.ts'

/** `bytes` as separate buffers of the given sizes (taken in turn), each a copy with an ArrayBuffer of its own, as an HTTP body's pieces. */
function ownPieces (bytes: Uint8Array, sizes: number[]): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let i = 0, k = 0; i < bytes.length; k++) {
    const n = Math.min(sizes[k % sizes.length], bytes.length - i)
    out.push(bytes.slice(i, i + n))
    i += n
  }
  return out
}

async function * from (list: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield * list
}

/** Runs the chunker to its end; every chunk it yields is kept as it was given (not copied). */
async function chunksOf (chunker: ReturnType<typeof fixedSize>, input: Uint8Array[]): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const c of chunker(from(input))) out.push(c)
  return out
}

/** What the chunks must be: `bytes` cut every `size` bytes (one empty chunk for no bytes). */
function expectedChunks (bytes: Uint8Array, size: number): Buffer[] {
  if (bytes.length === 0) return [Buffer.alloc(0)]
  const out: Buffer[] = []
  for (let i = 0; i < bytes.length; i += size) out.push(Buffer.from(bytes.subarray(i, i + size)))
  return out
}

const detached = (b: Uint8Array): boolean => (b.buffer as ArrayBuffer).detached

describe('content/chunker: fixed-size chunks', () => {
  const SIZE = 1000
  const splits = [[1], [7], [999], [1000], [1001], [333, 1667], [2500], [3, 997, 1000, 4], [4096]]
  const lengths = [0, 1, 999, 1000, 1001, 2999, 3000, 7777]

  for (const freeInput of [false, true]) {
    it(`cuts pieces of any size at the same places, across pieces${freeInput ? ', freeing the pieces it copied' : ''}`, async () => {
      for (const length of lengths) {
        const bytes = keystream(`chunker-${length}`, length)
        for (const sizes of splits) {
          const input = ownPieces(bytes, sizes)
          const chunks = await chunksOf(fixedSize(SIZE, { freeInput }), input)
          // compared only at the end: a chunk given out earlier must not have changed since
          assert.deepEqual(chunks.map(c => Buffer.from(c)), expectedChunks(bytes, SIZE), `length ${length}, pieces ${sizes.join(',')}`)
          if (!freeInput) assert.ok(!input.some(detached), 'nothing is freed unless asked')
        }
      }
    })
  }

  it('never writes to a chunk once given out, and never reuses its buffer', async () => {
    const bytes = keystream('kept', 10 * SIZE + 123)
    const chunker = fixedSize(SIZE, { freeInput: true })
    const given: Array<{ chunk: Uint8Array, copy: Buffer }> = []
    // a copy of each chunk taken the moment it is given: later input must not change it
    for await (const chunk of chunker(from(ownPieces(bytes, [300, 450, 1250])))) given.push({ chunk, copy: Buffer.from(chunk) })
    for (const { chunk, copy } of given) assert.deepEqual(Buffer.from(chunk), copy)
    const buffers = given.map(g => g.chunk.buffer)
    assert.equal(new Set(buffers).size, buffers.length, 'each chunk has a buffer of its own')
  })

  it('with freeInput, frees a piece once all its bytes are copied, never one a chunk is a view of', async () => {
    const bytes = keystream('free', 3 * SIZE + 500)
    // 600 + 600 + 2200 + 100: chunk 1 is 600 + 400 (both pieces copied, both
    // freed), chunk 2 is 200 + 800 copied, chunk 3 a view of the third piece
    // (kept), chunk 4 its last 400 bytes + 100 copied
    const input = ownPieces(bytes, [600, 600, 2200, 100])
    assert.equal(input.length, 4)
    const chunks = await chunksOf(fixedSize(SIZE, { freeInput: true }), input)
    assert.deepEqual(chunks.map(c => Buffer.from(c)), expectedChunks(bytes, SIZE))
    assert.deepEqual(input.map(detached), [true, true, false, true])
    assert.ok(chunks[2].buffer === input[2].buffer, 'a whole chunk inside one piece is a view of it')
  })

  it('with freeInput, leaves alone a piece that is a view of part of a buffer (it may share it)', async () => {
    const shared = keystream('shared', 4 * SIZE)
    const input = [shared.subarray(0, 700), shared.subarray(700, 1400), shared.subarray(1400)]
    const chunks = await chunksOf(fixedSize(SIZE, { freeInput: true }), input)
    assert.deepEqual(chunks.map(c => Buffer.from(c)), expectedChunks(shared, SIZE))
    assert.ok(!detached(shared), 'the shared buffer is intact')
  })

  it('a small file is its only piece, not copied (nor freed)', async () => {
    const piece = keystream('small', 10)
    const chunks = await chunksOf(fixedSize(SIZE, { freeInput: true }), [piece])
    assert.equal(chunks.length, 1)
    assert.ok(chunks[0].buffer === piece.buffer)
    assert.ok(!detached(piece))
  })

  it('free() detaches only a buffer the view covers whole', () => {
    const whole = new Uint8Array(100)
    free(whole)
    assert.ok(detached(whole))
    const big = new Uint8Array(100)
    free(big.subarray(0, 50))
    free(big.subarray(50))
    assert.ok(!detached(big))
    const pooled = Buffer.from('a small pooled buffer')
    free(pooled)
    assert.ok(!detached(pooled))
    assert.equal(pooled.toString(), 'a small pooled buffer')
  })
})

describe('content/importer: a source that hands its buffers over (freeInput)', () => {
  it('gives the same CID and blocks as any other source, and its pieces are freed', async () => {
    const bytes = keystream('hand-over', 5 * 262144 + 4321)
    const plain = new MemoryBlocks()
    const expected = await importFile(ownPieces(bytes, [65536, 19456]), plain)
    const input = ownPieces(bytes, [65536, 19456])
    const handed = new MemoryBlocks()
    const result = await importFile(from(input), handed, { freeInput: true })
    assert.equal(result.cid.toString(), expected.cid.toString())
    assert.equal(result.size, bytes.length)
    assert.deepEqual([...handed.blocks.keys()].sort(), [...plain.blocks.keys()].sort())
    // every piece but the last (a view of it may be the last chunk) was copied into blocks and freed
    assert.ok(input.slice(0, -1).every(detached), 'pieces freed')
  })

  it('a source not handed over keeps its buffers', async () => {
    const bytes = keystream('kept-buffers', 3 * 262144)
    const input = ownPieces(bytes, [65536])
    await importFile(from(input), nullSink)
    assert.ok(!input.some(detached))
  })
})
