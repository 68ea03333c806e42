import assert from 'node:assert/strict'
import { importer, type InProgressImportResult } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { balancedLayout } from '../../src/content/layout.ts'
import { importFile, nullSink } from '../../src/content/importer.ts'
import { keystream } from './helpers.ts'

/** The CID ipfs-unixfs-importer gives with its own balanced layout, chunker and leaf builder. */
async function libraryCid (bytes: Uint8Array, chunkSize: number, cidVersion: 0 | 1): Promise<string> {
  let last: CID | undefined
  for await (const e of importer([{ content: [bytes] }], { put: async (cid) => cid }, {
    cidVersion, rawLeaves: cidVersion === 1, chunker: fixedSize({ chunkSize })
  })) last = e.cid
  return String(last)
}

describe('content/layout', function () {
  this.timeout(120_000)

  it('builds the same trees as the importer\'s balanced layout', async () => {
    const L = 174
    for (const chunks of [1, 2, L, L + 1, L * L, L * L + 1]) {
      const bytes = keystream(`layout ${chunks}`, chunks * 16 - (chunks > 1 ? 5 : 0))
      for (const cidVersion of [0, 1] as const) {
        const ours = await importFile([bytes], nullSink, { chunker: 'size-16', cidVersion })
        assert.equal(ours.cid.toString(), await libraryCid(bytes, 16, cidVersion), `${chunks} chunks, CIDv${cidVersion}`)
      }
    }
  })

  it('keeps no chunk bytes or encoded blocks while a group fills', async () => {
    const seen: InProgressImportResult[] = []
    const chunks = Array.from({ length: 7 }, (_, i) => keystream(`slim ${i}`, 1000))
    const leaves: InProgressImportResult[] = chunks.map((data, i) => ({
      cid: CID.createV1(raw.code, identity.digest(Uint8Array.from([i]))),
      size: BigInt(1000 + 10),
      unixfs: new UnixFS({ type: 'file', data }),
      block: i === 0 ? undefined : data
    }))
    let n = 0
    const root = await balancedLayout(3)(leaves, async (group) => {
      seen.push(...group)
      const unixfs = new UnixFS({ type: 'file' })
      for (const g of group) unixfs.addBlockSize(g.unixfs!.fileSize())
      return { cid: CID.createV1(raw.code, identity.digest(Uint8Array.from([100 + n++]))), size: 1n, unixfs, block: new Uint8Array(100) } as InProgressImportResult
    })
    // 7 leaves -> 3 parents -> 1 root
    assert.equal(seen.length, 7 + 3)
    for (const item of seen) {
      assert.equal((item as { block?: Uint8Array }).block, undefined, 'no encoded block is kept')
      const data = item.unixfs?.data
      if (data != null) assert.ok(!chunks.some(c => c.buffer === data.buffer), 'no chunk is kept')
    }
    assert.deepEqual(seen.slice(0, 7).map(i => i.unixfs?.data?.length), Array(7).fill(1000))
    assert.deepEqual(seen.slice(7).map(i => i.unixfs?.fileSize()), [3000n, 3000n, 1000n])
    assert.equal(root.unixfs?.fileSize(), 7000n)
    assert.ok((root as { block?: Uint8Array }).block != null, 'the root itself is returned whole')
  })
})
