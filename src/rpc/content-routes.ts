/**
 * The byte routes of the RPC port (same guard as /rpc):
 *
 *   POST /api/v1/add      raw body: one file; Content-Type application/symlink: one
 *                         symlink (the body is its target); multipart/form-data: a
 *                         directory tree (each part's filename is the URL-encoded
 *                         relative path; Content-Type application/x-directory for a
 *                         directory, application/symlink for a symlink, as Kubo sends).
 *                         Query: cid-version, chunker, raw-leaves, pin, replicas, quorum,
 *                         progress (each route's query: its schema in api.ts). Answers JSON {cid, size, blocks, replication}, and for
 *                         a tree `entries` (every entry's path, cid, type and size); with
 *                         progress=true NDJSON instead: progress events {type, detail}
 *                         (import:read, add:stored, replicate:confirmed), then one
 *                         result (that answer) or error ({message, code, details}).
 *   GET  /api/v1/cat/CID[/PATH]  the file's bytes; `Range: bytes=...` or ?offset=&length=.
 *   GET  /api/v1/get/CID[/PATH]  what the path names (a tree, a file, a symlink) as a
 *                         tar archive (?format=tar, the default), streamed, in the
 *                         layout `ipfs get -a` writes.
 *
 * PATH is entry names below the CID, each percent-encoded on its own
 * (`a%20b/c`), through directories and HAMT shards; a missing entry is a
 * 404 (ERR_PATH_NOT_FOUND), a malformed path (`..`, `//`, NUL) a 400.
 *
 * (CAR and block routes: block-routes.ts.)
 *
 * Errors answer JSON {error: {message, code}} with a status that says what kind.
 */
import { once } from 'node:events'
import type http from 'node:http'
import busboy from 'busboy'
import type { DirectoryEntryInput } from '../content/importer.ts'
import { AbortedError, InvalidArgumentError, ShoalError } from '../errors.ts'
import { contentPathFromUrl, contentPathName, MAX_SYMLINK_TARGET_BYTES, TAR_CONTENT_TYPE } from '../node/files.ts'
import type { AddOptions, ContentPath, Files } from '../node/files.ts'
import type { Logger } from '../platform/logger.ts'
import { parseQuery } from './api.ts'
import type { ByteRouteName, ParsedQueryOf } from './api.ts'
import type { HttpRoute } from './server.ts'

const STATUS_BY_CODE: Record<string, number> = {
  ERR_INVALID_ARGUMENT: 400,
  ERR_INVALID_CID: 400,
  ERR_NOT_UNIXFS: 400,
  ERR_INVALID_CAR: 400,
  ERR_PATH_NOT_FOUND: 404,
  ERR_UNSUPPORTED: 400,
  ERR_BLOCK_NOT_FOUND: 404,
  ERR_NOT_PINNED: 404,
  ERR_CORRUPT_BLOCK: 502,
  ERR_QUORUM: 503,
  ERR_DISK_FULL: 507,
  ERR_STORAGE_FULL: 507
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
  const { status, value } = errorAnswer(err, log)
  sendJson(res, status, value)
}

function errorAnswer (err: unknown, log: Logger): { status: number, value: unknown } {
  if (err instanceof ShoalError) {
    const details = (err as { details?: unknown }).details
    return { status: STATUS_BY_CODE[err.code] ?? 500, value: { error: { message: err.message, code: err.code, ...(details === undefined ? {} : { details }) } } }
  }
  log.error('byte route failed', { error: (err as Error)?.stack ?? String(err) })
  return { status: 500, value: { error: { message: 'Internal error', code: 'ERR_INTERNAL' } } }
}

/** Write `chunks` to the response as the client takes them (waits for 'drain'), then end it. */
export async function writeBody (res: http.ServerResponse, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, signal: AbortSignal): Promise<void> {
  for await (const chunk of chunks) {
    if (!res.write(chunk)) await once(res, 'drain', { signal })
  }
  res.end()
}

/** Bytes of a refused upload read and dropped after the answer, before the connection is cut. */
const LINGER_BYTES = 16 * 1024 * 1024

/**
 * Answer an upload that failed before its body was all read (a bad query, a
 * full disk, a malformed part). The whole answer is written at once, with
 * `Connection: close` so the client does not reuse the connection, but the
 * response is ended only when the rest of the body has been read and
 * dropped (or past LINGER_BYTES): closing while the client still sends
 * draws a reset, which can destroy the answer before the client reads it.
 */
function sendUploadError (req: http.IncomingMessage, res: http.ServerResponse, err: unknown, log: Logger): void {
  if (req.complete || res.headersSent) {
    sendError(res, err, log)
    return
  }
  const { status, value } = errorAnswer(err, log)
  const body = JSON.stringify(value)
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), Connection: 'close' })
  res.write(body)
  endAfterBody(req, res)
}

/** End the response once the rest of the request's body has been read and dropped (or past LINGER_BYTES). */
function endAfterBody (req: http.IncomingMessage, res: http.ServerResponse): void {
  if (req.complete) {
    res.end()
    return
  }
  let dropped = 0
  const finish = (): void => {
    req.off('data', onData)
    req.off('end', finish)
    req.off('close', finish)
    if (!res.writableEnded) res.end()
  }
  const onData = (chunk: Buffer): void => {
    dropped += chunk.length
    if (dropped > LINGER_BYTES) finish()
  }
  req.on('data', onData)
  req.on('end', finish)
  req.on('close', finish)
  req.on('error', () => {})
  req.resume()
}

/** Progress events written at most this often per type (the latest one of each is kept meanwhile). */
const PROGRESS_EVERY_MS = 100

/**
 * An upload's answer as NDJSON (`?progress=true`): its progress events
 * (`{type, detail}`, at most one per type per PROGRESS_EVERY_MS, the latest
 * kept; skipped while the client does not read), then `result` with the
 * answer, or `error` with what the JSON error answer would say. The status
 * is 200 from the start: a failure is the last line, never a status.
 */
function progressAnswer (res: http.ServerResponse): { event: (e: { type: string, detail: unknown }) => void, end: (last: { type: string, detail: unknown }) => void } {
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' })
  const pending = new Map<string, unknown>()
  const flush = (): void => {
    if (res.writableNeedDrain || res.writableEnded) return
    for (const [type, detail] of pending) res.write(JSON.stringify({ type, detail }) + '\n')
    pending.clear()
  }
  const timer = setInterval(flush, PROGRESS_EVERY_MS)
  return {
    event: (e) => { pending.set(e.type, e.detail) },
    end: (last) => {
      clearInterval(timer)
      flush()
      if (!res.writableEnded) res.write(JSON.stringify(last) + '\n')
    }
  }
}

/**
 * A byte route's query, checked against its schema in the method table
 * (api.ts): an unknown parameter or a bad value is an InvalidArgumentError
 * (400) that names it.
 */
export function readQuery<R extends ByteRouteName> (route: R, query: URLSearchParams): ParsedQueryOf<R> {
  const parsed = parseQuery(route, query)
  if (!parsed.ok) throw new InvalidArgumentError(parsed.message)
  return parsed.value
}

/**
 * The parts of a multipart upload as directory entries, one at a time (each
 * file streams). Whatever goes wrong on the way (a malformed body, a client
 * that goes away) ends the entry in progress and the iteration with an
 * error, so the importer never waits on a stream that will not move again.
 * Stopping early detaches the parser from `req` without destroying `req`,
 * so the route can still answer.
 */
async function * multipartEntries (req: http.IncomingMessage, signal: AbortSignal): AsyncGenerator<DirectoryEntryInput> {
  let parser: busboy.Busboy
  try {
    parser = busboy({ headers: req.headers, preservePath: true, limits: { fields: 0, parts: 1_000_000, files: 1_000_000 } })
  } catch (err) {
    // no boundary, an unknown charset: the request is malformed
    throw new InvalidArgumentError(`Malformed multipart upload: ${(err as Error).message}`)
  }
  // a symlink's entry is a promise (its target is read from its part), kept in place so the order stays the upload's
  const queue: Array<DirectoryEntryInput | Promise<DirectoryEntryInput> | Error | null> = []
  let wake: (() => void) | undefined
  const push = (item: DirectoryEntryInput | Promise<DirectoryEntryInput> | Error | null): void => {
    queue.push(item)
    wake?.()
  }
  /** ends the part being read (its stream errors) and then the iteration */
  const fail = (err: Error): void => {
    if (!parser.destroyed) parser.destroy(err)
    push(err)
  }
  parser.on('file', (_field, stream, info) => {
    // a part's stream may be destroyed with the parser's error before the
    // importer starts reading it: the reader sees that error, not the process
    stream.on('error', () => {})
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
    } else if (info.mimeType === SYMLINK_TYPE) {
      const entry = symlinkTarget(stream, path).then(target => ({ path, target }))
      entry.catch(() => {}) // awaited in turn below; a failure ends the iteration there
      push(entry)
    } else {
      push({ path, content: partContent(stream, path) })
    }
  })
  parser.on('close', () => { push(null) })
  parser.on('error', (err: Error) => { fail(new InvalidArgumentError(`Malformed multipart upload: ${err.message}`)) })
  const onAbort = (): void => { fail(new AbortedError('The upload was cut off by the client')) }
  signal.addEventListener('abort', onAbort, { once: true })
  req.on('error', fail)
  req.pipe(parser)
  try {
    if (signal.aborted) onAbort()
    while (true) {
      while (queue.length === 0) await new Promise<void>(resolve => { wake = resolve })
      const item = queue.shift()
      if (item === null || item === undefined) return
      if (item instanceof Error) throw item
      yield await item
    }
  } finally {
    signal.removeEventListener('abort', onAbort)
    req.off('error', fail)
    req.unpipe(parser)
    if (!parser.destroyed) parser.destroy()
  }
}

const SYMLINK_TYPE = 'application/symlink'

/** A symlink's target: the whole body of its part (or request), at most MAX_SYMLINK_TARGET_BYTES. */
async function symlinkTarget (stream: AsyncIterable<Uint8Array>, path: string): Promise<string> {
  const parts: Uint8Array[] = []
  let length = 0
  for await (const chunk of partContent(stream, path)) {
    length += chunk.length
    if (length > MAX_SYMLINK_TARGET_BYTES) throw new InvalidArgumentError(`Invalid symlink ${JSON.stringify(path)}: its target is longer than ${MAX_SYMLINK_TARGET_BYTES} bytes`)
    parts.push(chunk)
  }
  return new TextDecoder().decode(Buffer.concat(parts))
}

/** A part's bytes; a part that ends badly is the client's error (400), not ours. */
async function * partContent (stream: AsyncIterable<Uint8Array>, path: string): AsyncGenerator<Uint8Array> {
  try {
    yield * stream
  } catch (err) {
    if (err instanceof ShoalError) throw err
    throw new InvalidArgumentError(`Malformed multipart upload: the part "${path}" ended badly: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * `bytes=a-b`, `bytes=a-`, `bytes=-n` against a file of `size` bytes.
 * 'unsatisfiable' (answer 416) when no byte of the file is in it; 'invalid'
 * (ignore the header, RFC 9110) when it is not one range of that syntax.
 */
export function parseRange (header: string, size: number): { offset: number, length: number } | 'unsatisfiable' | 'invalid' {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (m == null || (m[1] === '' && m[2] === '')) return 'invalid'
  if (m[1] === '') {
    const suffix = Math.min(Number(m[2]), size)
    return suffix === 0 ? 'unsatisfiable' : { offset: size - suffix, length: suffix }
  }
  const start = Number(m[1])
  if (m[2] !== '' && Number(m[2]) < start) return 'invalid'
  if (start >= size) return 'unsatisfiable'
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  return { offset: start, length: end - start + 1 }
}

/**
 * The client went away. The signal follows the response's 'close', which
 * Deno emits only after the request stream has already failed; the socket
 * says so at once on both runtimes.
 */
export function clientGone (req: http.IncomingMessage, signal: AbortSignal): boolean {
  return signal.aborted || req.socket?.destroyed === true
}

/**
 * A route that takes an upload and answers `run`'s result as JSON; with
 * `?progress=true`, NDJSON: the progress events `run` reports, then one
 * `result` line (progressAnswer). A failure before the body is all read is
 * answered once the rest is dropped (sendUploadError); a client that went
 * away gets nothing.
 */
export function uploadHandler<R extends 'add' | 'dag.import' | 'block.put'> (log: Logger, route: R, run: (req: http.IncomingMessage, query: ParsedQueryOf<R>, signal: AbortSignal, onProgress?: (e: { type: string, detail: unknown }) => void) => Promise<unknown>): HttpRoute['handle'] {
  return async (req, res, { url, signal }) => {
    let progress: ReturnType<typeof progressAnswer> | undefined
    try {
      const query = readQuery(route, url.searchParams)
      if ((query as { progress?: boolean }).progress === true) progress = progressAnswer(res)
      const result = await run(req, query, signal, progress?.event)
      if (progress == null) sendJson(res, 200, result)
      else {
        progress.end({ type: 'result', detail: result })
        res.end()
      }
    } catch (err) {
      if (clientGone(req, signal)) {
        log.info('an upload was cut off by the client; nothing was pinned')
        res.destroy()
        return
      }
      if (progress == null) {
        sendUploadError(req, res, err, log)
        return
      }
      progress.end({ type: 'error', detail: (errorAnswer(err, log).value as { error: unknown }).error })
      endAfterBody(req, res)
    }
  }
}

export function contentRoutes (files: Files, log: Logger): HttpRoute[] {
  return [{
    method: 'POST',
    path: /^\/api\/v1\/add$/,
    name: '/api/v1/add',
    handle: uploadHandler(log, 'add', async (req, query, signal, onProgress) => {
      const options: AddOptions = {
        cidVersion: query['cid-version'] as 0 | 1 | undefined,
        chunker: query.chunker,
        rawLeaves: query['raw-leaves'],
        pin: query.pin,
        replicas: query.replicas,
        quorum: query.quorum,
        signal,
        onProgress
      }
      const contentType = req.headers['content-type'] ?? ''
      // an early stop of the import must not destroy `req`: the answer still has to reach the client.
      // A raw body's pieces are buffers of their own that nothing else keeps (Node's HTTP parser
      // copies each into a new one): handed over (`freeInput`), they are freed as soon as they are
      // copied into blocks. Multipart parts are views into the body that the parser still uses: not those.
      return contentType.startsWith('multipart/form-data')
        ? await files.addDirectory(multipartEntries(req, signal), options)
        : contentType === SYMLINK_TYPE
          ? await files.addSymlink(await symlinkTarget(req.iterator({ destroyOnReturn: false }), 'the upload'), options)
          : await files.add(req.iterator({ destroyOnReturn: false }), { ...options, freeInput: true })
    })
  }, {
    method: 'GET',
    path: /^\/api\/v1\/cat\/(.*)$/,
    name: '/api/v1/cat/CID',
    handle: async (req, res, { url, signal }) => {
      try {
        const query = readQuery('cat', url.searchParams)
        const stat = await files.stat(routeContentPath(req, '/api/v1/cat/'), { signal, replicas: false, prefetch: true })
        if (stat.type !== 'file' && stat.type !== 'raw') {
          throw new InvalidArgumentError(`Cannot cat "${stat.cid}": it is a ${stat.type}, not a file`)
        }
        const size = stat.size
        let offset = query.offset ?? 0
        let length = query.length ?? Math.max(size - offset, 0)
        length = Math.max(0, Math.min(length, size - offset))
        let status = 200
        const headers: Record<string, string | number> = { 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes', 'X-Content-Size': size }
        const range = req.headers.range == null ? 'invalid' : parseRange(req.headers.range, size)
        if (range === 'unsatisfiable') {
          res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end()
          return
        }
        if (range !== 'invalid') {
          ;({ offset, length } = range)
          status = 206
          headers['Content-Range'] = `bytes ${offset}-${offset + length - 1}/${size}`
        }
        headers['Content-Length'] = length
        res.writeHead(status, headers)
        await writeBody(res, files.cat(stat.cid, { signal, offset, length }), signal)
      } catch (err) {
        if (clientGone(req, signal)) {
          res.destroy()
          return
        }
        sendError(res, err, log)
      }
    }
  }, {
    method: 'GET',
    path: /^\/api\/v1\/get\/(.*)$/,
    name: '/api/v1/get/CID',
    handle: async (req, res, { url, signal }) => {
      try {
        readQuery('get', url.searchParams)
        const path = routeContentPath(req, '/api/v1/get/')
        // the path resolved and the top entry read before the answer commits to 200:
        // a missing root or entry is a 404, not an archive cut short
        const chunks = files.tar(path, { signal })[Symbol.asyncIterator]()
        try {
          const first = await chunks.next()
          res.writeHead(200, {
            'Content-Type': TAR_CONTENT_TYPE,
            'Content-Disposition': `attachment; ${dispositionName(`${contentPathName(path)}.tar`)}`,
            'X-Content-Type-Options': 'nosniff'
          })
          if (first.done !== true) res.write(first.value)
          await writeBody(res, { [Symbol.asyncIterator]: () => chunks }, signal)
        } finally {
          // however the answer ends, the walk ends with it (and the node's count of user operations)
          await chunks.return?.(undefined)
        }
      } catch (err) {
        if (clientGone(req, signal)) {
          res.destroy()
          return
        }
        sendError(res, err, log)
      }
    }
  }]
}

/** A Content-Disposition's file name (RFC 6266: an ASCII fallback, then the UTF-8 name, RFC 8187). */
export function dispositionName (name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_')
  const utf8 = encodeURIComponent(name).replace(/['()*]/g, c => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  return `filename="${ascii}"; filename*=UTF-8''${utf8}`
}

/**
 * The content path after a route's prefix, from the request's own URL: the
 * pathname the server matched is normalised (`a/../b` is `b` there), and a
 * `..` must be refused, not followed.
 */
function routeContentPath (req: http.IncomingMessage, prefix: string): ContentPath {
  // (an absolute-form request target, `http://host/api/...`, has its scheme and host first)
  const raw = (req.url ?? '').split('?')[0].replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '')
  if (!raw.startsWith(prefix)) throw new InvalidArgumentError(`Invalid path "${raw}": expected ${prefix}CID[/PATH]`)
  return contentPathFromUrl(raw.slice(prefix.length))
}
