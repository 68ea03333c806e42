/**
 * The HTTP gateway (opt-in, config `gateway`): IPFS's Trustless Gateway
 * (`GET /ipfs/CID` as one raw block or as a CAR with `dag-scope` and
 * `entity-bytes`) and plain deserialized responses (a file's bytes with its
 * Content-Type, ETag and Range; a directory's index.html or listing). It only
 * reads, from this node or the cluster: no route writes, and nothing it
 * answers names the RPC port or its token. Bound to loopback, it answers only
 * requests addressed to loopback names (a page that rebinds its own DNS name
 * to 127.0.0.1 is refused); bound beyond, it is public on purpose.
 */
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import type http from 'node:http'
import type { CID } from 'multiformats/cid'
import { parseCid } from '../content/blocks.ts'
import type { AbortOptions } from '../content/blocks.ts'
import { parseEntityBytes } from '../content/car.ts'
import type { DagScope, EntityBytes } from '../content/car.ts'
import type { ContentStat, LsEntry } from '../content/exporter.ts'
import { InvalidArgumentError, ShoalError } from '../errors.ts'
import { silentLogger } from '../platform/logger.ts'
import type { Logger } from '../platform/logger.ts'
import { dispositionName, parseRange } from '../rpc/content-routes.ts'
import { limitedServer, sendText } from '../rpc/http-server.ts'
import { directoryListing } from './listing.ts'
import { CAR_CONTENT_TYPE, contentTypeOf, MEDIA_RAW, NotAcceptable, responseFormat } from './media.ts'

export interface CarRequest extends AbortOptions {
  /** path segments below the root */
  path: string[]
  dagScope: DagScope
  entityBytes?: EntityBytes
}

/** What the gateway reads: the node's files, local first, else the cluster. */
export interface GatewaySource {
  /** one block's bytes, verified */
  block(cid: CID, options?: AbortOptions): Promise<Uint8Array>
  /** what is at `path` below `root` */
  resolve(root: CID, path: string[], options?: AbortOptions): Promise<ContentStat>
  cat(cid: string, options: { offset?: number, length?: number, signal?: AbortSignal }): AsyncIterable<Uint8Array>
  ls(cid: string, options?: AbortOptions): Promise<LsEntry[]>
  car(root: CID, request: CarRequest): AsyncIterable<Uint8Array>
}

export interface GatewayInit {
  /** HOST:PORT; port 0 picks a free one */
  listen: string
  source: GatewaySource
  maxConnections?: number
  readTimeoutMs?: number
  logger?: Logger
}

export interface Gateway {
  /** the bound address, HOST:PORT */
  readonly address: string
  close(): Promise<void>
}

/** Content behind a CID never changes. */
const IMMUTABLE = 'public, max-age=29030400, immutable'
/** bytes of a file read to sniff its type when its name does not say */
const SNIFF_BYTES = 512

const STATUS_BY_CODE: Record<string, number> = {
  ERR_INVALID_ARGUMENT: 400,
  ERR_INVALID_CID: 400,
  ERR_NOT_UNIXFS: 400,
  ERR_UNSUPPORTED: 400,
  ERR_BLOCK_NOT_FOUND: 404,
  ERR_PATH_NOT_FOUND: 404,
  ERR_CORRUPT_BLOCK: 502,
  ERR_TIMEOUT: 504
}

export async function startGateway (init: GatewayInit): Promise<Gateway> {
  const log = init.logger ?? silentLogger
  let allowedHosts: Set<string> | undefined

  const { listen, close } = limitedServer({
    listen: init.listen,
    what: 'the gateway',
    option: 'gateway',
    maxConnections: init.maxConnections,
    readTimeoutMs: init.readTimeoutMs,
    log,
    handle: async (req, res, signal) => { await serve(req, res, signal) },
    failed: (req, res, err, signal) => {
      if (res.headersSent) {
        // a stream cut midway: the client sees an incomplete body and verifies
        if (!signal.aborted) log.warn('gateway response cut', { url: req.url, error: (err as Error)?.message })
        res.destroy()
        return
      }
      if (signal.aborted) return
      const { status, text } = errorAnswer(err, log)
      sendText(res, status, text)
    }
  })

  const serve = async (req: http.IncomingMessage, res: http.ServerResponse, signal: AbortSignal): Promise<void> => {
    if (allowedHosts != null && !allowedHosts.has((req.headers.host ?? '').toLowerCase())) {
      res.setHeader('Connection', 'close')
      sendText(res, 403, `Forbidden: Host "${req.headers.host ?? ''}" is not this gateway`)
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD')
      sendText(res, 405, `Method not allowed: the gateway only reads (${req.method ?? ''})`)
      return
    }
    const url = new URL(req.url ?? '/', 'http://localhost')
    const parts = url.pathname.split('/')
    if (parts[1] === 'ipns') {
      sendText(res, 501, 'Not implemented: shoal has no IPNS; its names are read over the RPC port')
      return
    }
    if (parts[1] !== 'ipfs' || parts.length < 3 || parts[2] === '') {
      sendText(res, 404, `Not found: ${url.pathname} (the gateway serves /ipfs/CID[/path])`)
      return
    }
    const root = parseCid(decodeSegment(parts[2]))
    const trailingSlash = parts.length > 3 && parts[parts.length - 1] === ''
    const path = parts.slice(3, trailingSlash ? -1 : undefined).map(decodeSegment)
    const q = url.searchParams
    let format
    try {
      format = responseFormat(q.get('format'), req.headers.accept, q.get('car-version'))
    } catch (err) {
      if (!(err instanceof NotAcceptable)) throw err
      sendText(res, 406, `Not acceptable: ${err.message}`)
      return
    }
    const ctx: RequestContext = { req, res, signal, root, path, url }
    if (format === 'raw') await serveRaw(ctx)
    else if (format === 'car') await serveCar(ctx)
    else await serveDeserialized(ctx)
  }

  const serveRaw = async ({ req, res, signal, root, path, url }: RequestContext): Promise<void> => {
    if (path.length > 0) throw new InvalidArgumentError('A raw block is asked for by its CID alone: /ipfs/CID?format=raw takes no path')
    const etag = `"${root.toString()}.raw"`
    if (notModified(req, res, etag)) return
    const bytes = await init.source.block(root, { signal })
    res.setHeader('Content-Type', MEDIA_RAW)
    res.setHeader('Content-Disposition', attachment(url, `${root.toString()}.bin`))
    res.setHeader('X-Content-Type-Options', 'nosniff')
    res.setHeader('Vary', 'Accept')
    setImmutable(res, etag, `/ipfs/${root.toString()}`)
    const range = rangeOf(req, res, bytes.length)
    if (range === 'unsatisfiable') return
    if (range == null) {
      res.setHeader('Content-Length', bytes.length)
      res.writeHead(200).end(req.method === 'HEAD' ? undefined : bytes)
      return
    }
    res.setHeader('Content-Length', range.length)
    res.writeHead(206).end(req.method === 'HEAD' ? undefined : bytes.subarray(range.offset, range.offset + range.length))
  }

  const serveCar = async ({ req, res, signal, root, path, url }: RequestContext): Promise<void> => {
    const q = url.searchParams
    const bytesParam = q.get('entity-bytes')
    const entityBytes = bytesParam == null ? undefined : parseEntityBytes(bytesParam)
    const scopeParam = q.get('dag-scope') ?? (entityBytes == null ? 'all' : 'entity')
    if (scopeParam !== 'all' && scopeParam !== 'entity' && scopeParam !== 'block') {
      throw new InvalidArgumentError(`Invalid dag-scope "${scopeParam}": expected all, entity or block`)
    }
    const dagScope: DagScope = scopeParam
    const fullPath = ['', 'ipfs', root.toString(), ...path].join('/')
    const variant = createHash('sha256').update(`${fullPath}|${dagScope}|${bytesParam ?? ''}`).digest('base64url').slice(0, 16)
    const etag = `W/"${root.toString()}.car.${variant}"`
    if (notModified(req, res, etag)) return
    // the path resolved and its first block read before the answer commits
    // to 200: a root (or path) nobody has is a 404, not a cut stream
    const chunks = init.source.car(root, { path, dagScope, entityBytes, signal })[Symbol.asyncIterator]()
    const first = await chunks.next()
    res.setHeader('Content-Type', CAR_CONTENT_TYPE)
    res.setHeader('Content-Disposition', attachment(url, `${root.toString()}.car`))
    res.setHeader('X-Content-Type-Options', 'nosniff')
    res.setHeader('Vary', 'Accept')
    setImmutable(res, etag, fullPath)
    if (req.method === 'HEAD') {
      await chunks.return?.()
      res.writeHead(200).end()
      return
    }
    res.writeHead(200)
    if (first.done !== true) res.write(first.value)
    await stream(res, { [Symbol.asyncIterator]: () => chunks }, signal)
  }

  const serveDeserialized = async (ctx: RequestContext): Promise<void> => {
    const { req, res, signal, root, path, url } = ctx
    const stat = await init.source.resolve(root, path, { signal })
    const fullPath = ['', 'ipfs', root.toString(), ...path].join('/')
    if (stat.type === 'directory') {
      if (!url.pathname.endsWith('/')) {
        res.setHeader('Location', `${url.pathname}/${url.search}`)
        sendText(res, 301, `Moved: a directory's address ends with "/"`)
        return
      }
      const entries = await init.source.ls(stat.cid, { signal })
      const index = entries.find(e => e.name === 'index.html' && (e.type === 'file' || e.type === 'raw'))
      if (index != null) {
        await serveFile(ctx, await init.source.resolve(index.cid, [], { signal }), 'index.html', `${fullPath}/index.html`)
        return
      }
      const etag = `"DirIndex-${stat.cid}"`
      if (notModified(req, res, etag)) return
      const html = directoryListing(fullPath, entries, root.toString())
      res.setHeader('Content-Type', 'text/html; charset=utf-8')
      res.setHeader('Content-Length', Buffer.byteLength(html))
      setImmutable(res, etag, fullPath)
      res.writeHead(200).end(req.method === 'HEAD' ? undefined : html)
      return
    }
    if (stat.type === 'symlink') {
      const target = stat.target ?? ''
      res.setHeader('Content-Type', 'text/plain; charset=utf-8')
      res.setHeader('Content-Length', Buffer.byteLength(target))
      setImmutable(res, `"${stat.cid}"`, fullPath)
      res.writeHead(200).end(req.method === 'HEAD' ? undefined : target)
      return
    }
    await serveFile(ctx, stat, path.at(-1), fullPath)
  }

  const serveFile = async ({ req, res, signal, url }: RequestContext, stat: ContentStat, name: string | undefined, fullPath: string): Promise<void> => {
    const etag = `"${stat.cid}"`
    if (notModified(req, res, etag)) return
    const filename = url.searchParams.get('filename') ?? undefined
    const head = await collect(init.source.cat(stat.cid, { offset: 0, length: Math.min(SNIFF_BYTES, stat.size), signal }))
    res.setHeader('Content-Type', contentTypeOf(filename ?? name, head))
    if (filename != null || url.searchParams.get('download') === 'true') {
      res.setHeader('Content-Disposition', url.searchParams.get('download') === 'true' ? attachment(url, filename ?? name ?? stat.cid) : inline(filename ?? ''))
    }
    res.setHeader('Accept-Ranges', 'bytes')
    setImmutable(res, etag, fullPath)
    const range = rangeOf(req, res, stat.size)
    if (range === 'unsatisfiable') return
    const { offset, length } = range ?? { offset: 0, length: stat.size }
    res.setHeader('Content-Length', length)
    res.writeHead(range == null ? 200 : 206)
    if (req.method === 'HEAD' || length === 0) {
      res.end()
      return
    }
    await stream(res, init.source.cat(stat.cid, { offset, length, signal }), signal)
  }

  const bound = await listen()
  if (isLoopbackHost(bound.host)) {
    allowedHosts = new Set(['localhost', '127.0.0.1', '[::1]'].map(h => `${h}:${bound.port}`))
  }
  log.info('gateway listening', { address: bound.address })
  return { address: bound.address, close }
}

interface RequestContext {
  req: http.IncomingMessage
  res: http.ServerResponse
  signal: AbortSignal
  root: CID
  path: string[]
  url: URL
}

function decodeSegment (segment: string): string {
  let text: string
  try {
    text = decodeURIComponent(segment)
  } catch {
    throw new InvalidArgumentError(`Invalid path segment "${segment}": not URL-encoded UTF-8`)
  }
  if (text === '' || text === '.' || text === '..' || text.includes('/') || text.includes('\0')) {
    throw new InvalidArgumentError(`Invalid path segment "${text}"`)
  }
  return text
}

function isLoopbackHost (address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address === 'localhost'
}

function setImmutable (res: http.ServerResponse, etag: string, fullPath: string): void {
  res.setHeader('ETag', etag)
  res.setHeader('Cache-Control', IMMUTABLE)
  res.setHeader('X-Ipfs-Path', encodeURI(fullPath))
}

/** Answer 304 when the client holds this variant already. */
function notModified (req: http.IncomingMessage, res: http.ServerResponse, etag: string): boolean {
  const tags = (req.headers['if-none-match'] ?? '').split(',').map(t => t.trim())
  if (!tags.includes(etag) && !tags.includes('*')) return false
  res.setHeader('ETag', etag)
  res.setHeader('Cache-Control', IMMUTABLE)
  res.writeHead(304).end()
  return true
}

/** The Range a request asks for: undefined for the whole; 'unsatisfiable' once answered 416. */
function rangeOf (req: http.IncomingMessage, res: http.ServerResponse, size: number): { offset: number, length: number } | 'unsatisfiable' | undefined {
  if (req.headers.range == null) return undefined
  const range = parseRange(req.headers.range, size)
  if (range === 'invalid') return undefined
  if (range === 'unsatisfiable') {
    res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end()
    return range
  }
  res.setHeader('Content-Range', `bytes ${range.offset}-${range.offset + range.length - 1}/${size}`)
  return range
}

function attachment (url: URL, fallback: string): string {
  const name = url.searchParams.get('filename') ?? fallback
  return `attachment; ${dispositionName(name)}`
}

function inline (name: string): string {
  return `inline; ${dispositionName(name)}`
}

async function collect (source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of source) chunks.push(chunk)
  return Buffer.concat(chunks)
}

async function stream (res: http.ServerResponse, source: AsyncIterable<Uint8Array>, signal: AbortSignal): Promise<void> {
  for await (const chunk of source) {
    if (!res.write(chunk)) await once(res, 'drain', { signal })
  }
  res.end()
}

function errorAnswer (err: unknown, log: Logger): { status: number, text: string } {
  if (err instanceof ShoalError) return { status: STATUS_BY_CODE[err.code] ?? 500, text: err.message }
  log.error('gateway request failed', { error: (err as Error)?.stack ?? String(err) })
  return { status: 500, text: 'Internal error' }
}

