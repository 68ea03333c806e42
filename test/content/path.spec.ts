import assert from 'node:assert/strict'
import { importDirectory } from '../../src/content/importer.ts'
import type { DirectoryEntryInput } from '../../src/content/importer.ts'
import { contentPathFromUrl, contentPathName, contentPathUrl, parseContentPath, resolvePath } from '../../src/content/path.ts'
import { MemoryBlocks } from './helpers.ts'

const CID = 'bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq'

describe('content paths', () => {
  describe('parseContentPath', () => {
    it('takes CID, CID/a/b, /ipfs/CID/a/b and one trailing slash', () => {
      for (const [text, path] of [
        [CID, []],
        [`${CID}/`, []],
        [`${CID}/a/b c`, ['a', 'b c']],
        [`/ipfs/${CID}/a/b c/`, ['a', 'b c']],
        [`/ipfs/${CID}`, []],
        [`${CID}/100%25`, ['100%25']] // no percent-decoding outside URLs
      ] as const) {
        const p = parseContentPath(text)
        assert.equal(p.root.toString(), CID, text)
        assert.deepEqual(p.path, path, text)
      }
    })

    it('refuses malformed paths with ERR_INVALID_ARGUMENT, bad CIDs with ERR_INVALID_CID', () => {
      for (const [text, code, message] of [
        [`${CID}/a/../b`, 'ERR_INVALID_ARGUMENT', /"\.\."/],
        [`${CID}/./b`, 'ERR_INVALID_ARGUMENT', /"\."/],
        [`${CID}//b`, 'ERR_INVALID_ARGUMENT', /empty segment/],
        [`${CID}/a//`, 'ERR_INVALID_ARGUMENT', /empty segment/],
        [`${CID}/a\0b`, 'ERR_INVALID_ARGUMENT', /segment/],
        [`/${CID}/a`, 'ERR_INVALID_ARGUMENT', /expected CID\[\/path\] or \/ipfs\/CID\[\/path\]/],
        [`/ipns/${CID}`, 'ERR_INVALID_ARGUMENT', /expected CID/],
        ['/ipfs/', 'ERR_INVALID_CID', /empty/],
        ['nope/a', 'ERR_INVALID_CID', /Invalid CID "nope"/]
      ] as const) {
        assert.throws(() => parseContentPath(text), (err: any) => {
          assert.equal(err.code, code, text)
          assert.match(err.message, message, text)
          assert.doesNotMatch(err.message, /\n/)
          return true
        })
      }
    })
  })

  describe('in URLs', () => {
    it('decodes each segment on its own, and contentPathUrl writes what it reads back', () => {
      const p = contentPathFromUrl(`${CID}/a%20b/%C3%A9t%C3%A9/100%25`)
      assert.deepEqual(p.path, ['a b', 'été', '100%'])
      assert.equal(contentPathUrl(p), `${CID}/a%20b/%C3%A9t%C3%A9/100%25`)
      assert.deepEqual(contentPathFromUrl(contentPathUrl(p)), p)
      assert.equal(contentPathName(p), '100%')
      assert.equal(contentPathName(parseContentPath(`/ipfs/${CID}/`)), CID)
    })

    it('refuses an encoded slash, NUL or dot-dot inside a name, and a bad escape', () => {
      for (const [text, message] of [
        [`${CID}/a%2Fb`, /a segment is one entry name/],
        [`${CID}/a%00`, /segment/],
        [`${CID}/%2e%2e/x`, /"\.\."/],
        [`${CID}/%E0%A4%A`, /malformed percent-encoding/]
      ] as const) {
        assert.throws(() => contentPathFromUrl(text), (err: any) => err.code === 'ERR_INVALID_ARGUMENT' && message.test(err.message), text)
      }
    })
  })

  describe('resolvePath', () => {
    const blocks = new MemoryBlocks()
    let flat: string
    let sharded: string

    async function * tree (): AsyncGenerator<DirectoryEntryInput> {
      yield { path: 'd' }
      yield { path: 'd/small.txt', content: [Buffer.from('hi')] }
      yield { path: 'd/big.bin', content: [new Uint8Array(300_000)] }
      yield { path: 'd/link', target: 'small.txt' }
      for (let i = 0; i < 40; i++) yield { path: `d/n${i}`, content: [Buffer.from(`entry ${i}`)] }
    }

    before(async () => {
      flat = (await importDirectory(tree(), blocks)).cid.toString()
      sharded = (await importDirectory(tree(), blocks, { shardSplitThresholdBytes: 1 })).cid.toString()
    })

    it('finds an entry through flat and HAMT-sharded directories', async () => {
      for (const root of [flat, sharded]) {
        const p = parseContentPath(`${root}/d/n17`)
        const { cid } = await resolvePath(p.root, p.path, blocks)
        const direct = await resolvePath(parseContentPath(flat).root, ['d', 'n17'], blocks)
        assert.equal(cid.toString(), direct.cid.toString())
      }
    })

    it('says a path goes on below a file or a symlink (ERR_PATH_NOT_FOUND), and names a missing entry', async () => {
      const root = parseContentPath(flat).root
      for (const [path, message] of [
        [['d', 'small.txt', 'x'], /"[^"]+\/d\/small\.txt" is a file, not a directory/],
        [['d', 'big.bin', 'x', 'y'], /"[^"]+\/d\/big\.bin" is a file, not a directory/],
        [['d', 'link', 'x'], /"[^"]+\/d\/link" is a symlink, not a directory/],
        [['d', 'nope'], /No link "nope"/]
      ] as const) {
        await assert.rejects(resolvePath(root, [...path], blocks), (err: any) => {
          assert.equal(err.code, 'ERR_PATH_NOT_FOUND', err.message)
          assert.match(err.message, message)
          return true
        })
      }
    })
  })
})
