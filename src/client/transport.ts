/**
 * ShoalClient's transport over HTTP: JSON-RPC calls as `POST /rpc`, and
 * plain requests to the byte routes, with the bearer token; answers in
 * shoal's words (RpcError with the daemon's code, DaemonUnreachableError).
 */
import http from 'node:http'
import { parseHostPort } from '../config.ts'
import { AbortedError, DaemonUnreachableError, RpcError, RpcHttpError } from '../errors.ts'
import type { ProgressEventOf } from '../rpc/api.ts'
import type { DaemonEndpoint } from './locate.ts'

export interface CallOptions {
  signal?: AbortSignal
  timeoutMs?: number
}

export class HttpTransport {
  readonly endpoint: DaemonEndpoint
  private nextId = 1

  constructor (endpoint: DaemonEndpoint) {
    this.endpoint = endpoint
  }

  async call (method: string, params?: unknown, options: CallOptions = {}): Promise<unknown> {
    const id = this.nextId++
    const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) }))
    const signals = [AbortSignal.timeout(options.timeoutMs ?? 30_000)]
    if (options.signal != null) signals.push(options.signal)
    let status: number
    let text: string
    try {
      const res = await this.request('POST', '/rpc', { body, headers: { 'Content-Type': 'application/json' }, signal: AbortSignal.any(signals) })
      status = res.statusCode ?? 0
      text = await readAll(res)
    } catch (err) {
      if (options.signal?.aborted === true) throw new AbortedError(`The call of ${method} was aborted`)
      // a daemon that does not answer in time is as good as unreachable
      if ((err as Error).name === 'AbortError' || (err as Error).name === 'TimeoutError') throw new DaemonUnreachableError(this.endpoint.address, { cause: err })
      throw err
    }
    if (status !== 200) throw new RpcHttpError(`The shoal daemon at ${this.endpoint.address} refused the request: ${status} ${text.trim()}`, status)
    let response: { result?: unknown, error?: { code: number, message: string, data?: unknown } }
    try {
      response = JSON.parse(text)
    } catch {
      throw new RpcError(`The shoal daemon at ${this.endpoint.address} sent a reply that is not JSON`, -32700)
    }
    if (response.error != null) throw new RpcError(response.error.message, response.error.code, response.error.data)
    return response.result
  }

  /**
   * A plain HTTP request to one of the daemon's byte routes; the answer is
   * returned unread (a stream). `body` may be a stream of any size.
   */
  async request (method: 'GET' | 'POST', path: string, options: { body?: NodeJS.ReadableStream | Uint8Array, headers?: Record<string, string>, signal?: AbortSignal } = {}): Promise<http.IncomingMessage> {
    const { host, port } = parseHostPort(this.endpoint.address)
    const headers: Record<string, string> = { ...options.headers }
    if (this.endpoint.token != null) headers.Authorization = `Bearer ${this.endpoint.token}`
    return await new Promise((resolve, reject) => {
      const req = http.request({ host, port, path, method, headers, signal: options.signal }, resolve)
      req.on('error', err => { reject(this.connectError(err)) })
      if (options.body == null) req.end()
      else if (options.body instanceof Uint8Array) req.end(options.body)
      else {
        options.body.on('error', (err: Error) => { req.destroy(err) })
        options.body.pipe(req)
      }
    })
  }

  /** Read a whole answer; throw RpcHttpError with the daemon's message unless it is 2xx. */
  async readAnswer (res: http.IncomingMessage): Promise<string> {
    const text = await readAll(res)
    if ((res.statusCode ?? 0) >= 300) throw httpError(res.statusCode ?? 0, text)
    return text
  }

  /**
   * Read an NDJSON answer of progress events (`?progress=true`): each
   * `{type, detail}` goes to `onEvent`; the `result` line's detail is
   * returned, an `error` line thrown as the daemon's error.
   */
  async readProgress (res: http.IncomingMessage, onEvent: (event: ProgressEventOf) => void): Promise<unknown> {
    if ((res.statusCode ?? 0) >= 300) throw httpError(res.statusCode ?? 0, await readAll(res))
    let rest = ''
    for await (const chunk of res) {
      const lines = (rest + (chunk as Buffer).toString('utf8')).split('\n')
      rest = lines.pop() ?? ''
      for (const line of lines) {
        if (line.trim() === '') continue
        const event = JSON.parse(line) as { type: string, detail: any }
        if (event.type === 'result') return event.detail
        if (event.type === 'error') throw new RpcError(event.detail?.message ?? 'The daemon failed', SERVER_ERROR_CODE, { code: event.detail?.code, details: event.detail?.details })
        onEvent(event as ProgressEventOf)
      }
    }
    throw new RpcHttpError(`The shoal daemon at ${this.endpoint.address} ended the answer before its result`, res.statusCode ?? 0)
  }

  private connectError (err: Error): Error {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENOTFOUND' || code === 'EADDRNOTAVAIL') {
      return new DaemonUnreachableError(this.endpoint.address, { cause: err })
    }
    return err
  }
}

/** The error a byte route answered with: its JSON `{error: {message, code}}` or its text. */
export function httpError (status: number, text: string): Error {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: string, code?: string, details?: unknown } }
    if (parsed.error?.message != null) return new RpcError(parsed.error.message, SERVER_ERROR_CODE, { code: parsed.error.code, details: parsed.error.details })
  } catch {}
  return new RpcHttpError(`The shoal daemon refused the request: ${status} ${text.trim()}`, status)
}

const SERVER_ERROR_CODE = -32000

async function readAll (res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of res) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}
