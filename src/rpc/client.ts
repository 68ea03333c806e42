/**
 * The client side of the RPC port, used by the CLI: it finds the running
 * daemon of a repo (its bound address in api.json, its token in rpc.token)
 * and calls JSON-RPC methods on it.
 */
import http from 'node:http'
import { parseHostPort, readConfig } from '../config.ts'
import { DaemonUnreachableError, RpcError, RpcHttpError } from '../errors.ts'
import { readFileIfExists } from '../platform/files.ts'
import { repoPaths } from '../platform/repo.ts'

export interface DaemonEndpoint {
  /** HOST:PORT */
  address: string
  token?: string
}

export interface ApiFile {
  rpc: string
  pid: number
}

/** Where the daemon of `repoDir` listens: what it wrote at start, else what its config says. */
export async function locateDaemon (repoDir: string): Promise<DaemonEndpoint> {
  const paths = repoPaths(repoDir)
  const token = (await readFileIfExists(paths.rpcToken))?.toString('utf8').trim()
  const api = await readFileIfExists(paths.api)
  if (api != null) {
    try {
      const parsed = JSON.parse(api.toString('utf8')) as Partial<ApiFile>
      if (typeof parsed.rpc === 'string') return { address: parsed.rpc, token }
    } catch {
      // a torn or foreign api.json: fall back to the config
    }
  }
  const config = await readConfig(paths.config)
  return { address: config.rpc, token }
}

export interface CallOptions {
  signal?: AbortSignal
  timeoutMs?: number
}

export class RpcClient {
  readonly endpoint: DaemonEndpoint
  private nextId = 1

  constructor (endpoint: DaemonEndpoint) {
    this.endpoint = endpoint
  }

  async call<T = unknown>(method: string, params?: unknown[] | Record<string, unknown>, options: CallOptions = {}): Promise<T> {
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
      // a daemon that does not answer in time is as good as unreachable
      if ((err as Error).name === 'AbortError' || (err as Error).name === 'TimeoutError') throw new DaemonUnreachableError(this.endpoint.address, { cause: err })
      throw err
    }
    if (status !== 200) throw new RpcHttpError(`The shoal daemon at ${this.endpoint.address} refused the request: ${status} ${text.trim()}`, status)
    let response: { result?: T, error?: { code: number, message: string, data?: unknown } }
    try {
      response = JSON.parse(text)
    } catch {
      throw new RpcError(`The shoal daemon at ${this.endpoint.address} sent a reply that is not JSON`, -32700)
    }
    if (response.error != null) throw new RpcError(response.error.message, response.error.code, response.error.data)
    return response.result as T
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
   * `{type, detail}` goes to `onEvent`; the `resultType` line's detail is
   * returned, an `error` line thrown as the daemon's error.
   */
  async readProgress<T> (res: http.IncomingMessage, resultType: string, onEvent: (event: { type: string, detail: any }) => void): Promise<T> {
    if ((res.statusCode ?? 0) >= 300) throw httpError(res.statusCode ?? 0, await readAll(res))
    let rest = ''
    for await (const chunk of res) {
      const lines = (rest + (chunk as Buffer).toString('utf8')).split('\n')
      rest = lines.pop() ?? ''
      for (const line of lines) {
        if (line.trim() === '') continue
        const event = JSON.parse(line) as { type: string, detail: any }
        if (event.type === resultType) return event.detail as T
        if (event.type === 'error') throw new RpcError(event.detail?.message ?? 'The daemon failed', SERVER_ERROR_CODE, { code: event.detail?.code, details: event.detail?.details })
        onEvent(event)
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
