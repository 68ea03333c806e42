/**
 * The RPC port: JSON-RPC 2.0 over HTTP `POST /rpc` and over a WebSocket on
 * the same path (websocket.ts), and plain HTTP routes for
 * streams of bytes, all guarded from the first byte: the Host header is
 * checked (against DNS rebinding), foreign browser Origins are refused, the
 * bearer token is required, and JSON bodies are capped. Connections are
 * limited here, not by node:http (so that Deno enforces it too): at most
 * `maxConnections` open, headers within `readTimeoutMs`, a body at least 1 KiB
 * per `readTimeoutMs` while it is awaited, and a refused request is answered
 * with `Connection: close` and cut without its body being read.
 */
import http from 'node:http'
import type { Socket } from 'node:net'
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { formatHostPort } from '../config.ts'
import { silentLogger } from '../platform/logger.ts'
import type { Logger } from '../platform/logger.ts'
import { limitedServer, sendText } from './http-server.ts'
import { handleJsonRpc } from './jsonrpc.ts'
import type { MethodTable } from './jsonrpc.ts'
import { webSocketRpc } from './websocket.ts'

export const MAX_JSON_BODY = 1024 * 1024

export interface RouteContext {
  url: URL
  match: RegExpExecArray
  /** aborted when the client goes away */
  signal: AbortSignal
}

/** A plain HTTP route beside /rpc (file bytes in and out). */
export interface HttpRoute {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  /** matched against the URL's pathname */
  path: RegExp
  /** how metrics name it, e.g. "/api/v1/cat/CID" (default: the path's source) */
  name?: string
  handle(req: http.IncomingMessage, res: http.ServerResponse, context: RouteContext): Promise<void>
}

export interface RpcServerInit {
  /** HOST:PORT; port 0 picks a free one */
  listen: string
  token: string
  methods: MethodTable
  routes?: HttpRoute[]
  /** extra Host header values to accept, HOST or HOST:PORT */
  allowedHosts?: string[]
  maxBodyBytes?: number
  /** open connections at most; one more is closed at once (default 256) */
  maxConnections?: number
  /**
   * the request line and headers must arrive within this long of the
   * connection opening (or of the previous response ending), and a body must
   * deliver MIN_BODY_BYTES_PER_WINDOW in every such period (default 10 s)
   */
  readTimeoutMs?: number
  /** a WebSocket whose untaken answers and notifications pass this many bytes is closed (default 4 MiB) */
  maxWebSocketBufferedBytes?: number
  logger?: Logger
}

export interface RpcServer {
  /** the bound address, HOST:PORT */
  readonly address: string
  /** from now on only `token` is accepted (requests already admitted go on) */
  setToken(token: string): void
  /** open WebSockets, and the subscriptions they hold */
  webSocketStats(): { sockets: number, subscriptions: number }
  close(): Promise<void>
}

/** A fresh random bearer token. */
export function newRpcToken (): string {
  return randomBytes(32).toString('base64url')
}

/** Whether `text` is a token newRpcToken could have made (32 random bytes, base64url). */
export function isRpcToken (text: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(text)
}

export async function startRpcServer (init: RpcServerInit): Promise<RpcServer> {
  const log = init.logger ?? silentLogger
  const maxBody = init.maxBodyBytes ?? MAX_JSON_BODY
  let expectedAuth = Buffer.from(`Bearer ${init.token}`)
  let allowedHosts = new Set<string>()

  const { server, limits, listen, close } = limitedServer({
    listen: init.listen,
    what: 'the RPC port',
    option: 'rpc',
    maxConnections: init.maxConnections,
    readTimeoutMs: init.readTimeoutMs,
    log,
    handle: async (req, res, signal) => { await handle(req, res, signal) },
    failed: (_req, res, err) => {
      log.error('RPC request failed', { error: (err as Error)?.stack ?? String(err) })
      try {
        if (!res.headersSent) sendText(res, 500, 'Internal server error')
        else res.destroy()
      } catch {
        res.destroy()
      }
    }
  })

  const authorized = (header: string): boolean => {
    const auth = Buffer.from(header)
    return auth.length === expectedAuth.length && timingSafeEqual(auth, expectedAuth)
  }

  /** Why a request is refused before anything else (Host, Origin, token), or undefined when it passes. */
  const guard = (req: http.IncomingMessage, options: { tokenOptional?: boolean } = {}): { status: number, text: string } | undefined => {
    const hostHeader = (req.headers.host ?? '').toLowerCase()
    if (!allowedHosts.has(hostHeader)) return { status: 403, text: `Forbidden: Host "${hostHeader}" is not this RPC server` }
    const origin = req.headers.origin
    if (origin != null && !isOwnOrigin(origin, allowedHosts)) return { status: 403, text: `Forbidden: requests from origin "${origin}" are not allowed` }
    if (options.tokenOptional === true && req.headers.authorization == null) return undefined
    if (!authorized(req.headers.authorization ?? '')) return { status: 401, text: 'Unauthorized: send "Authorization: Bearer <token>" with the token from <repo>/rpc.token' }
    return undefined
  }

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse, signal: AbortSignal): Promise<void> => {
    const refused = guard(req)
    if (refused != null) {
      if (refused.status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="shoal"')
      refuse(req, res, refused.status, refused.text)
      return
    }
    const url = new URL(req.url ?? '/', 'http://localhost')
    const candidates = routes.map(route => ({ route, match: route.path.exec(url.pathname) })).filter(c => c.match != null)
    if (candidates.length === 0) {
      refuse(req, res, 404, `Not found: ${url.pathname}`)
      return
    }
    const chosen = candidates.find(c => c.route.method === req.method)
    if (chosen == null) {
      res.setHeader('Allow', [...new Set(candidates.map(c => c.route.method))].join(', '))
      refuse(req, res, 405, `Method not allowed: ${req.method ?? ''} ${url.pathname}`)
      return
    }
    await chosen.route.handle(req, res, { url, match: chosen.match as RegExpExecArray, signal })
  }

  /**
   * Answer a refused request with `Connection: close` and close the
   * connection as soon as the answer is out, without reading the body.
   */
  const refuse = (req: http.IncomingMessage, res: http.ServerResponse, status: number, text: string): void => {
    const socket = req.socket
    res.setHeader('Connection', 'close')
    res.once('finish', () => { limits.closeSoon(socket) })
    sendText(res, status, text)
  }

  // WebSocket JSON-RPC on /rpc: the same checks, except that the token may
  // also come as the first message (rpc.auth) instead of the header
  const webSockets = webSocketRpc({
    methods: init.methods,
    checkToken: (token) => authorized(`Bearer ${token}`),
    maxMessageBytes: maxBody,
    maxBufferedBytes: init.maxWebSocketBufferedBytes,
    authTimeoutMs: limits.readTimeoutMs,
    log
  })
  server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    limits.onUpgrade(socket)
    const path = new URL(req.url ?? '/', 'http://localhost').pathname
    const refused = guard(req, { tokenOptional: true }) ??
      (path === '/rpc' ? undefined : { status: 404, text: `Not found: ${path} (WebSockets connect to /rpc)` })
    if (refused != null) {
      const text = refused.text + '\n'
      socket.write(`HTTP/1.1 ${refused.status} ${http.STATUS_CODES[refused.status] ?? ''}\r\nConnection: close\r\n` +
        `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\n` +
        (refused.status === 401 ? 'WWW-Authenticate: Bearer realm="shoal"\r\n' : '') + `\r\n${text}`)
      limits.closeSoon(socket)
      return
    }
    webSockets.accept(req, socket, head, { authenticated: req.headers.authorization != null })
  })

  const rpcRoute: HttpRoute = {
    method: 'POST',
    path: /^\/rpc$/,
    handle: async (req, res, { signal }) => { await handleRpc(req, res, signal) }
  }
  const routes = [rpcRoute, ...(init.routes ?? [])]

  const handleRpc = async (req: http.IncomingMessage, res: http.ServerResponse, signal: AbortSignal): Promise<void> => {
    let body: string | undefined
    try {
      body = await readBody(req, maxBody)
    } catch {
      // the client went away or was cut off (too slow) mid-body: nothing to answer
      res.destroy()
      return
    }
    if (body == null) {
      res.setHeader('Connection', 'close')
      sendText(res, 413, `Payload too large: a JSON-RPC body may be at most ${maxBody} bytes`)
      discardRest(req)
      return
    }
    const answer = await handleJsonRpc(body, init.methods, {
      signal,
      onInternalError: (method, err) => { log.error('RPC method failed', { method, error: (err as Error)?.stack ?? String(err) }) }
    })
    if (answer == null) {
      res.writeHead(204).end()
      return
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(answer) })
    res.end(answer)
  }

  const bound = await listen()
  allowedHosts = hostsFor(bound.host, bound.port, init.allowedHosts ?? [])
  log.info('RPC listening', { address: bound.address })

  return {
    address: bound.address,
    setToken: (token) => { expectedAuth = Buffer.from(`Bearer ${token}`) },
    webSocketStats: () => webSockets.stats(),
    close: async () => {
      await webSockets.close()
      await close()
    }
  }
}

function hostsFor (boundHost: string, port: number, extra: string[]): Set<string> {
  const names = ['localhost', '127.0.0.1', '[::1]', formatHostPort({ host: boundHost, port }).replace(/:\d+$/, '')]
  const hosts = new Set<string>()
  for (const name of names) hosts.add(`${name}:${port}`.toLowerCase())
  for (const h of extra) hosts.add(h.toLowerCase())
  return hosts
}

function isOwnOrigin (origin: string, hosts: Set<string>): boolean {
  try {
    const url = new URL(origin)
    return url.protocol === 'http:' && hosts.has(url.host.toLowerCase())
  } catch {
    return false
  }
}

/**
 * Read the body as text, or resolve undefined as soon as it exceeds `max`
 * bytes. The stream is left open so that the caller can answer before closing.
 */
async function readBody (req: http.IncomingMessage, max: number): Promise<string | undefined> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > max) return undefined
  return await new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size > max) {
        req.off('data', onData)
        req.pause()
        resolve(undefined)
        return
      }
      chunks.push(chunk)
    }
    req.on('data', onData)
    req.once('end', () => { resolve(Buffer.concat(chunks).toString('utf8')) })
    req.once('error', reject)
  })
}

/** Bytes of a refused body read and dropped so the client sees the answer instead of a reset. */
const LINGER_BYTES = 16 * 1024 * 1024

/** Drop the rest of a refused body (up to a cap, then cut the connection). */
function discardRest (req: http.IncomingMessage): void {
  let dropped = 0
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length
    if (dropped > LINGER_BYTES) req.destroy()
  })
  req.resume()
}
