/**
 * A JSON-RPC client over WebSocket (the `ws` library) for tests: calls by
 * id, notifications collected, the close code and reason, and a refused
 * upgrade's HTTP status.
 */
import { WebSocket } from 'ws'
import { waitFor } from './tmp.ts'

export interface Notification {
  subscription: string
  result: any
}

export interface WsClient {
  ws: WebSocket
  /** the result, or throws an Error carrying the error object's message, rpcCode and data */
  call<T = any>(method: string, params?: unknown): Promise<T>
  /** every notification received so far */
  notifications: Notification[]
  /** the first notification received (already, or within timeoutMs) that matches `match` */
  next(match: (n: Notification) => boolean, what: string, timeoutMs?: number): Promise<Notification>
  /** resolves when the socket has closed */
  closed: Promise<{ code: number, reason: string }>
  /** every raw message received */
  messages: any[]
  close(): Promise<void>
}

export interface ConnectOptions {
  /** sent as `Authorization: Bearer TOKEN` */
  token?: string
  /** sent as the first message (rpc.auth) */
  authMessage?: string
  headers?: Record<string, string>
  path?: string
}

/** Opens a WebSocket to 127.0.0.1:PORT/rpc; rejects when the upgrade is refused (with `status`). */
export async function connectWs (port: number, options: ConnectOptions = {}): Promise<WsClient> {
  const headers: Record<string, string> = { ...options.headers }
  if (options.token != null) headers.Authorization = `Bearer ${options.token}`
  const ws = new WebSocket(`ws://127.0.0.1:${port}${options.path ?? '/rpc'}`, { headers })
  const pending = new Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>()
  const notifications: Notification[] = []
  const messages: any[] = []
  let nextId = 1
  const closed = new Promise<{ code: number, reason: string }>(resolve => {
    ws.on('close', (code, reason) => {
      for (const p of pending.values()) p.reject(new Error(`socket closed (${code} ${reason.toString()})`))
      pending.clear()
      resolve({ code, reason: reason.toString() })
    })
  })
  ws.on('message', data => {
    const message = JSON.parse(data.toString())
    messages.push(message)
    if (message.method === 'subscription') {
      notifications.push(message.params)
      return
    }
    const p = pending.get(message.id)
    if (p == null) return
    pending.delete(message.id)
    if (message.error != null) p.reject(Object.assign(new Error(message.error.message), { rpcCode: message.error.code, data: message.error.data }))
    else p.resolve(message.result)
  })
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => { resolve() })
    ws.once('unexpected-response', (_req, res) => {
      res.resume()
      reject(Object.assign(new Error(`upgrade refused: HTTP ${res.statusCode ?? 0}`), { status: res.statusCode }))
    })
    ws.once('error', reject)
  })
  ws.on('error', () => {})
  const call = async (method: string, params?: unknown): Promise<any> => {
    const id = nextId++
    const answer = new Promise((resolve, reject) => { pending.set(id, { resolve, reject }) })
    ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) }))
    return await answer
  }
  if (options.authMessage != null) {
    const result = await call('rpc.auth', { token: options.authMessage })
    if (result?.authenticated !== true) throw new Error(`rpc.auth answered ${JSON.stringify(result)}`)
  }
  return {
    ws,
    call,
    notifications,
    messages,
    closed,
    next: async (match, what, timeoutMs = 20_000) => {
      let found: Notification | undefined
      await waitFor(() => (found = notifications.find(match)) != null, what, timeoutMs, 20)
      return found as Notification
    },
    close: async () => {
      if (ws.readyState !== ws.CLOSED) ws.close()
      await closed
    }
  }
}

/** The HTTP status with which an upgrade to PORT/PATH is refused (throws when it is accepted). */
export async function refusedUpgrade (port: number, options: ConnectOptions = {}): Promise<number> {
  try {
    const client = await connectWs(port, options)
    await client.close()
  } catch (err) {
    const status = (err as { status?: number }).status
    if (status != null) return status
    throw err
  }
  throw new Error('the upgrade was accepted')
}
