/**
 * The byte routes of the RPC port (same guard as /rpc):
 *
 *   POST /api/v1/add      raw body: one file; multipart/form-data: a directory tree
 *                         (each part's filename is the URL-encoded relative path;
 *                         Content-Type application/x-directory for a directory).
 *                         Query: cid-version, chunker, raw-leaves, pin, replicas, quorum.
 *                         Answers JSON {cid, size, blocks, replication}.
 *   GET  /api/v1/cat/CID  the file's bytes; `Range: bytes=...` or ?offset=&length=.
 *
 * Errors answer JSON {error: {message, code}} with a status that says what kind.
 */
import { once } from 'node:events'
import type http from 'node:http'
import busboy from 'busboy'
import type { DirectoryEntryInput } from '../content/importer.ts'
import { InvalidArgumentError, ShoalError } from '../errors.ts'
import type { AddOptions, Files } from '../node/files.ts'
import type { Logger } from '../platform/logger.ts'
import type { HttpRoute } from './server.ts'

const STATUS_BY_CODE: Record<string, number> = {
  ERR_INVALID_ARGUMENT: 400,
  ERR_INVALID_CID: 400,
  ERR_NOT_UNIXFS: 400,
  ERR_UNSUPPORTED: 400,
  ERR_BLOCK_NOT_FOUND: 404,
  ERR_NOT_PINNED: 404,
  ERR_CORRUPT_BLOCK: 502,
  ERR_QUORUM: 503,
  ERR_DISK_FULL: 507
}

export function sendJson (res: http.ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value)
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) })
  res.end(body)
}

/** Answer an error as JSON with a fitting status; bugs are logged and answered without detail. */
export function sendError (res: http.ServerResponse, err: unknown, log: Logger): void {
  if (res.headersSent) {
    res.destroy(err as Error)
    return
  }
  if (err instanceof ShoalError) {
    const details = (err as { details?: unknown }).details
    sendJson(res, STATUS_BY_CODE[err.code] ?? 500, { error: { message: err.message, code: err.code, ...(details === undefined ? {} : { details }) } })
    return
  }
  log.error('byte route failed', { error: (err as Error)?.stack ?? String(err) })
  sendJson(res, 500, { error: { message: 'Internal error', code: 'ERR_INTERNAL' } })
}

function intParam (query: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const raw = query.get(name)
  if (raw == null) return undefined
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`Invalid "${name}" "${raw}": expected a whole number from ${min} to ${max}`)
  return n
}

function boolParam (query: URLSearchParams, name: string): boolean | undefined {
  const raw = query.get(name)
  if (raw == null) return undefined
  if (raw === 'true' || raw === '1') return true
  if (raw === 'false' || raw === '0') return false
  throw new InvalidArgumentError(`Invalid "${name}" "${raw}": expected true or false`)
}

export function addOptionsFromQuery (query: URLSearchParams): AddOptions {
  return {
    cidVersion: intParam(query, 'cid-version', 0, 1) as 0 | 1 | undefined,
    chunker: query.get('chunker') ?? undefined,
    rawLeaves: boolParam(query, 'raw-leaves'),
    pin: boolParam(query, 'pin'),
    replicas: intParam(query, 'replicas', 1, 64),
    quorum: intParam(query, 'quorum', 1, 64)
  }
}

/** The parts of a multipart upload as directory entries, one at a time (each file streams). */
async function * multipartEntries (req: http.IncomingMessage): AsyncGenerator<DirectoryEntryInput> {
  const parser = busboy({ headers: req.headers, preservePath: true, limits: { fields: 0, parts: 1_000_000, files: 1_000_000 } })
  const queue: Array<DirectoryEntryInput | Error | null> = []
  let wake: (() => void) | undefined
  const push = (item: DirectoryEntryInput | Error | null): void => {
    queue.push(item)
    wake?.()
  }
  parser.on('file', (_field, stream, info) => {
    let path: string
    try {
      path = decodeURIComponent(info.filename ?? '')
    } catch {
      push(new InvalidArgumentError(`Invalid path "${info.filename}" in the upload`))
      stream.resume()
      return
    }
    if (info.mimeType === 'application/x-directory') {
      stream.resume()
      push({ path })
    } else {
      push({ path, content: stream })
    }
  })
  parser.on('close', () => { push(null) })
  parser.on('error', (err: Error) => { push(new InvalidArgumentError(`Malformed multipart upload: ${err.message}`)) })
  req.on('error', (err: Error) => { push(err) })
  req.pipe(parser)
  while (true) {
    while (queue.length === 0) await new Promise<void>(resolve => { wake = resolve })
    const item = queue.shift()
    if (item === null || item === undefined) return
    if (item instanceof Error) throw item
    yield item
  }
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n` against a file of `size` bytes; undefined if unsatisfiable. */
export function parseRange (header: string, size: number): { offset: number, length: number } | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (m == null || (m[1] === '' && m[2] === '')) return undefined
  if (m[1] === '') {
    const suffix = Math.min(Number(m[2]), size)
    return suffix === 0 ? undefined : { offset: size - suffix, length: suffix }
  }
  const start = Number(m[1])
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  if (start >= size || end < start) return undefined
  return { offset: start, length: end - start + 1 }
}

export function contentRoutes (files: Files, log: Logger): HttpRoute[] {
  return [{
    method: 'POST',
    path: /^\/api\/v1\/add$/,
    handle: async (req, res, { url, signal }) => {
      try {
        const options = { ...addOptionsFromQuery(url.searchParams), signal }
        const multipart = (req.headers['content-type'] ?? '').startsWith('multipart/form-data')
        const result = multipart
          ? await files.addDirectory(multipartEntries(req), options)
          : await files.add(req, options)
        sendJson(res, 200, result)
      } catch (err) {
        if (signal.aborted) {
          log.info('an upload was cut off by the client; nothing was pinned')
          res.destroy()
          return
        }
        sendError(res, err, log)
      }
    }
  }, {
    method: 'GET',
    path: /^\/api\/v1\/cat\/([^/]+)$/,
    handle: async (req, res, { url, match, signal }) => {
      try {
        const cid = decodeURIComponent(match[1])
        const stat = await files.stat(cid, { signal, replicas: false })
        if (stat.type !== 'file' && stat.type !== 'raw') {
          throw new InvalidArgumentError(`Cannot cat "${cid}": it is a ${stat.type}, not a file`)
        }
        const size = stat.size
        let offset = intParam(url.searchParams, 'offset', 0, Number.MAX_SAFE_INTEGER) ?? 0
        let length = intParam(url.searchParams, 'length', 0, Number.MAX_SAFE_INTEGER) ?? Math.max(size - offset, 0)
        length = Math.max(0, Math.min(length, size - offset))
        let status = 200
        const headers: Record<string, string | number> = { 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes', 'X-Content-Size': size }
        if (req.headers.range != null) {
          const range = parseRange(req.headers.range, size)
          if (range == null) {
            res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end()
            return
          }
          ;({ offset, length } = range)
          status = 206
          headers['Content-Range'] = `bytes ${offset}-${offset + length - 1}/${size}`
        }
        headers['Content-Length'] = length
        res.writeHead(status, headers)
        for await (const chunk of files.cat(cid, { signal, offset, length })) {
          if (!res.write(chunk)) await once(res, 'drain', { signal })
        }
        res.end()
      } catch (err) {
        if (signal.aborted) {
          res.destroy()
          return
        }
        sendError(res, err, log)
      }
    }
  }]
}
