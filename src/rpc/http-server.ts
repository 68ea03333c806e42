/**
 * What the RPC port and the gateway share: a node:http server with the
 * connection limits of connection-limits.ts, an AbortSignal per request that
 * follows its response, an address that cannot be opened told in shoal's
 * words, and a close that aborts what is in flight and drops every
 * connection.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { formatHostPort, parseHostPort } from '../config.ts'
import { ListenError } from '../errors.ts'
import { systemErrorCode, systemErrorWords } from '../platform/errno.ts'
import type { Logger } from '../platform/logger.ts'
import { connectionLimits, DEFAULT_MAX_CONNECTIONS, DEFAULT_READ_TIMEOUT_MS } from './connection-limits.ts'

export interface LimitedServerInit {
  /** HOST:PORT; port 0 picks a free one */
  listen: string
  /** for the error when `listen` cannot be opened: what it is ("the RPC port") and its flag and config key ("rpc") */
  what: string
  option: string
  maxConnections?: number
  readTimeoutMs?: number
  log: Logger
  /** one request; its signal is aborted when the response closes */
  handle(req: http.IncomingMessage, res: http.ServerResponse, signal: AbortSignal): Promise<void>
  /** what `handle` threw */
  failed(req: http.IncomingMessage, res: http.ServerResponse, err: unknown, signal: AbortSignal): void
}

export interface LimitedServer {
  readonly server: http.Server
  readonly limits: ReturnType<typeof connectionLimits>
  /** starts listening; the bound host and port, and HOST:PORT */
  listen(): Promise<{ host: string, port: number, address: string }>
  /** aborts the requests in flight and closes the server with every connection */
  close(): Promise<void>
}

export function limitedServer (init: LimitedServerInit): LimitedServer {
  const { host, port } = parseHostPort(init.listen)
  const limits = connectionLimits({
    maxConnections: init.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    readTimeoutMs: init.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS,
    log: init.log
  })
  const inflight = new Set<AbortController>()
  const server = http.createServer((req, res) => {
    limits.onRequest(req, res)
    const controller = new AbortController()
    inflight.add(controller)
    res.on('close', () => {
      controller.abort()
      inflight.delete(controller)
    })
    init.handle(req, res, controller.signal).catch(err => { init.failed(req, res, err, controller.signal) })
  })
  server.on('connection', limits.onConnection)
  // connectionLimits() enforces the read deadlines on both runtimes; Node's
  // own headersTimeout (checked only every 30 s) stays as a backstop
  server.headersTimeout = limits.readTimeoutMs
  // uploads and downloads of any size are allowed, so no whole-request
  // deadline; a connection that stalls for two minutes is closed
  server.requestTimeout = 0
  server.timeout = 120_000

  return {
    server,
    limits,
    listen: async () => {
      await new Promise<void>((resolve, reject) => {
        const fail = (err: Error): void => {
          const words = systemErrorWords(systemErrorCode(err)) ?? err.message
          reject(new ListenError(`Cannot open ${init.what} on ${init.listen}: ${words}; change --${init.option} or "${init.option}" in config.json`, { cause: err }))
        }
        server.once('error', fail)
        server.listen(port, host, () => {
          server.off('error', fail)
          resolve()
        })
      })
      const bound = server.address() as AddressInfo
      return { host: bound.address, port: bound.port, address: formatHostPort({ host: bound.address, port: bound.port }) }
    },
    close: async () => {
      for (const c of inflight) c.abort()
      await new Promise<void>(resolve => {
        server.close(() => { resolve() })
        server.closeAllConnections()
      })
    }
  }
}

/** A plain-text answer (an error, a refusal). */
export function sendText (res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) + 1 })
  res.end(text + '\n')
}
