/**
 * ShoalClient's WebSocket to `ws://HOST:PORT/rpc` (the `ws` library), for
 * what only a socket carries: subscriptions and the progress of long calls.
 * The token goes in the upgrade's Authorization header; answers are matched
 * by id, each notification `{"method":"subscription","params":{subscription,
 * result}}` goes to the listener of its subscription, and each
 * `{"method":"progress","params":{request,event}}` to the call `request`.
 */
import { WebSocket } from 'ws'
import { DaemonUnreachableError, RpcError, RpcHttpError } from '../errors.ts'
import type { DaemonEndpoint } from './locate.ts'

interface Pending {
  resolve(result: unknown): void
  reject(err: Error): void
  /** the call's progress notifications */
  onProgress?(event: unknown): void
}

export class SocketTransport {
  private readonly ws: WebSocket
  private readonly pending = new Map<number, Pending>()
  private readonly listeners = new Map<string, (result: unknown) => void>()
  private nextId = 1
  /** resolves when the socket has closed, with its code and reason */
  readonly closed: Promise<{ code: number, reason: string }>

  private constructor (ws: WebSocket) {
    this.ws = ws
    this.closed = new Promise(resolve => {
      ws.on('close', (code, reason) => {
        const why = `the shoal daemon closed the WebSocket (${code}${reason.length > 0 ? `: ${reason.toString()}` : ''})`
        for (const p of this.pending.values()) p.reject(new RpcHttpError(why, 0))
        this.pending.clear()
        this.listeners.clear()
        resolve({ code, reason: reason.toString() })
      })
    })
    ws.on('error', () => {}) // followed by 'close'
    ws.on('message', data => { this.receive(data.toString()) })
  }

  /** Opens the socket; rejects with the daemon's words when the upgrade is refused. */
  static async connect (endpoint: DaemonEndpoint): Promise<SocketTransport> {
    const headers: Record<string, string> = endpoint.token == null ? {} : { Authorization: `Bearer ${endpoint.token}` }
    const ws = new WebSocket(`ws://${endpoint.address}/rpc`, { headers })
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => { resolve() })
      ws.once('unexpected-response', (_req, res) => {
        let text = ''
        res.on('data', (c: Buffer) => { text += c.toString() })
        res.on('end', () => { reject(new RpcHttpError(`The shoal daemon at ${endpoint.address} refused the WebSocket: ${res.statusCode ?? 0} ${text.trim()}`, res.statusCode ?? 0)) })
        ws.terminate()
      })
      ws.once('error', err => { reject(new DaemonUnreachableError(endpoint.address, { cause: err })) })
    })
    return new SocketTransport(ws)
  }

  async call (method: string, params?: unknown, onProgress?: (event: unknown) => void): Promise<unknown> {
    if (this.ws.readyState !== WebSocket.OPEN) throw new RpcHttpError('The WebSocket to the shoal daemon is closed', 0)
    const id = this.nextId++
    const answer = new Promise<unknown>((resolve, reject) => { this.pending.set(id, { resolve, reject, onProgress }) })
    this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) }))
    return await answer
  }

  /** Notifications of subscription `id` go to `listener` from now on (the server holds them until the id is answered). */
  listen (id: string, listener: (result: unknown) => void): void {
    this.listeners.set(id, listener)
  }

  unlisten (id: string): void {
    this.listeners.delete(id)
  }

  async close (): Promise<void> {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.close(1000)
    await this.closed
  }

  private receive (text: string): void {
    let message: { id?: number, method?: string, params?: { subscription?: string, result?: unknown, request?: number, event?: unknown }, result?: unknown, error?: { code: number, message: string, data?: unknown } }
    try {
      message = JSON.parse(text)
    } catch {
      return
    }
    if (message.method === 'subscription') {
      const listener = this.listeners.get(message.params?.subscription ?? '')
      listener?.(message.params?.result)
      return
    }
    if (message.method === 'progress') {
      this.pending.get(message.params?.request ?? -1)?.onProgress?.(message.params?.event)
      return
    }
    const pending = this.pending.get(message.id ?? -1)
    if (pending == null) return
    this.pending.delete(message.id ?? -1)
    if (message.error != null) pending.reject(new RpcError(message.error.message, message.error.code, message.error.data))
    else pending.resolve(message.result)
  }
}
