/**
 * The byte routes for CARs and single blocks (same guard as /rpc):
 *
 *   POST /api/v1/dag/import          body: a CAR (v1, or v2). Query: pin-roots (default
 *                                    true), replicas, quorum. Answers JSON
 *                                    {roots, pinned, blocks, bytes, replication}; a CAR
 *                                    with a bad block, cut short or garbled is a 400 and
 *                                    nothing of it is stored.
 *   GET  /api/v1/dag/export/CID[/PATH]
 *                                    the CAR v1 (application/vnd.ipld.car): depth first,
 *                                    each block once. Query: dag-scope=all|entity|block,
 *                                    entity-bytes=FROM:TO (the Trustless Gateway's).
 *   GET  /api/v1/block/get/CID       one block's bytes (application/vnd.ipld.raw)
 *   POST /api/v1/block/put           body: one block (at most 2 MiB). Query: cid-codec
 *                                    (raw, the default, or dag-pb), pin (default false),
 *                                    replicas, quorum, progress. Answers JSON {cid, size, replication}.
 *
 * Each query is checked against its schema in api.ts (an unknown parameter is
 * a 400). Errors answer JSON {error: {message, code}} as the content routes do.
 */
import type http from 'node:http'
import { InvalidArgumentError } from '../errors.ts'
import { CAR_CONTENT_TYPE, MAX_BLOCK_BYTES, parseEntityBytes } from '../node/files.ts'
import type { Files } from '../node/files.ts'
import type { Logger } from '../platform/logger.ts'
import type { ParsedQueryOf } from './api.ts'
import { clientGone, readQuery, sendError, uploadHandler, writeBody } from './content-routes.ts'
import type { HttpRoute } from './server.ts'

export function blockRoutes (files: Files, log: Logger): HttpRoute[] {
  /** A download route: errors before the first byte are JSON answers, later ones cut the stream. */
  const download = <R extends 'dag.export' | 'block.get'>(route: R, run: (match: RegExpExecArray, query: ParsedQueryOf<R>, signal: AbortSignal) => Promise<{ headers: Record<string, string | number>, body: AsyncIterable<Uint8Array> | Uint8Array[] }>): HttpRoute['handle'] =>
    async (req, res, { url, match, signal }) => {
      try {
        const { headers, body } = await run(match, readQuery(route, url.searchParams), signal)
        res.writeHead(200, headers)
        await writeBody(res, body, signal)
      } catch (err) {
        if (clientGone(req, signal)) {
          res.destroy()
          return
        }
        sendError(res, err, log)
      }
    }
  return [{
    method: 'POST',
    path: /^\/api\/v1\/dag\/import$/,
    handle: uploadHandler(log, 'dag.import', async (req, query, signal, onProgress) =>
      await files.importCar(req.iterator({ destroyOnReturn: false }), { replicas: query.replicas, quorum: query.quorum, pin: query['pin-roots'], signal, onProgress }))
  }, {
    method: 'GET',
    path: /^\/api\/v1\/dag\/export\/([^/]+)((?:\/[^/]*)*)$/,
    handle: download('dag.export', async (match, query, signal) => {
      const cid = decoded(match[1])
      const path = match[2].split('/').filter(s => s !== '').map(decoded)
      const entityBytes = query['entity-bytes']
      const chunks = files.exportCar(cid, { path, dagScope: query['dag-scope'], entityBytes: entityBytes == null ? undefined : parseEntityBytes(entityBytes), signal })
      // the options checked, the path resolved and the first block read before the first chunk: a missing root is still a 404
      const first = await chunks.next()
      const body = (async function * () {
        if (first.done !== true) yield first.value
        yield * chunks
      })()
      return {
        headers: { 'Content-Type': `${CAR_CONTENT_TYPE}; version=1; order=dfs; dups=n`, 'Content-Disposition': `attachment; filename="${cid}.car"` },
        body
      }
    })
  }, {
    method: 'GET',
    path: /^\/api\/v1\/block\/get\/([^/]+)$/,
    handle: download('block.get', async (match, _query, signal) => {
      const bytes = await files.blockGet(decoded(match[1]), { signal })
      return { headers: { 'Content-Type': 'application/vnd.ipld.raw', 'Content-Length': bytes.byteLength }, body: [bytes] }
    })
  }, {
    method: 'POST',
    path: /^\/api\/v1\/block\/put$/,
    handle: uploadHandler(log, 'block.put', async (req, query, signal) => {
      const options = { codec: query['cid-codec'], pin: query.pin, replicas: query.replicas, quorum: query.quorum, signal }
      return await files.blockPut(await readBlockBody(req), options)
    })
  }]
}

/** A URL path segment, decoded; a malformed escape is the client's error. */
function decoded (segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    throw new InvalidArgumentError(`Invalid escape in the URL path segment "${segment}"`)
  }
}

/** A request body of at most MAX_BLOCK_BYTES, else an InvalidArgumentError (the rest is dropped by the caller). */
async function readBlockBody (req: http.IncomingMessage): Promise<Uint8Array> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > MAX_BLOCK_BYTES) throw tooLarge(declared)
  const chunks: Buffer[] = []
  let length = 0
  for await (const chunk of req.iterator({ destroyOnReturn: false })) {
    length += (chunk as Buffer).length
    if (length > MAX_BLOCK_BYTES) throw tooLarge(length)
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

function tooLarge (bytes: number): InvalidArgumentError {
  return new InvalidArgumentError(`Cannot put a block of ${bytes} bytes or more: the limit is ${MAX_BLOCK_BYTES} (a file goes in with add)`)
}
