/**
 * docs/rpc.md is generated from the OpenRPC document (npm run docs:rpc):
 * the committed file must be what the script writes now.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import { renderRpcDocs, RPC_DOCS } from '../../scripts/rpc-docs.ts'
import { METHODS } from '../../src/rpc/api.ts'
import { openRpcDocument } from '../../src/rpc/openrpc.ts'

describe('docs/rpc.md', () => {
  it('is what npm run docs:rpc makes of the method table now (run it after changing src/rpc/api.ts)', async () => {
    const committed = await fs.readFile(RPC_DOCS, 'utf8')
    const fresh = renderRpcDocs()
    // name the first line that differs rather than print two long pages
    const a = committed.split('\n')
    const b = fresh.split('\n')
    const at = a.findIndex((line, i) => line !== b[i])
    assert.ok(committed === fresh, `docs/rpc.md is stale at line ${at + 1}: ${JSON.stringify(a[at])}, should be ${JSON.stringify(b[at])}; run npm run docs:rpc`)
  })

  it('follows the document: every method and route has its section, and a change to the document changes the page', () => {
    const page = renderRpcDocs()
    for (const method of Object.keys(METHODS)) assert.ok(page.includes(`### ${method}\n`), method)
    for (const route of ['POST /api/v1/add', 'GET /api/v1/cat/{cid}', 'POST /api/v1/dag/import', 'GET /api/v1/dag/export/{cid}', 'GET /api/v1/block/get/{cid}', 'POST /api/v1/block/put', 'GET /metrics']) {
      assert.ok(page.includes(`### ${route}\n`), route)
    }
    const doc = openRpcDocument()
    const changed = { ...doc, methods: doc.methods.map(m => m.name === 'node.id' ? { ...m, summary: 'Something else' } : m) }
    assert.notEqual(renderRpcDocs(changed), page)
  })
})
