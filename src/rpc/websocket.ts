/**
 * JSON-RPC over WebSocket (the `ws` library), on the RPC port's `/rpc`: the
 * same method table as HTTP POST, plus subscriptions (subscriptions.ts).
 * The server (server.ts) checks Host and Origin on the upgrade request and
 * hands the socket over here, authenticated when it carried the right
 * `Authorization: Bearer` header.
 *
 * - A socket without the header must send `rpc.auth` first:
 *   `{"jsonrpc":"2.0","id":1,"method":"rpc.auth","params":{"token":"..."}}`
 *   (answered `{"authenticated":true}`). Until then nothing else is answered:
 *   any other message, a wrong token, or no token within `authTimeoutMs`
 *   closes the socket (1008, with the reason).
 * - One message is one JSON-RPC request or batch, at most `maxMessageBytes`
 *   (else the socket is closed with 1009). At most MAX_CALLS_IN_FLIGHT calls
 *   of a socket run at once; beyond that its socket is not read.
 * - A long call (pin.add, repo.gc: the methods whose table entry has
 *   `progress`) sends its progress before its answer, as notifications
 *   `{"method":"progress","params":{"request":ID,"event":{type,detail}}}`, at
 *   most one per event type per 100 ms.
 * - A slow reader does not grow the daemon's memory: when the bytes queued on
 *   a socket (answers and notifications it has not taken) would pass
 *   `maxBufferedBytes`, the socket is closed (1008, "too slow ...") and its
 *   subscriptions end.
 */
import type http from 'node:http'
import type { Duplex } from 'node:stream'
import { clearTimeout, setTimeout } from 'node:timers'
import { WebSocketServer } from 'ws'
import type { WebSocket } from 'ws'
import type { Logger } from '../platform/logger.ts'
import { parseParams } from './api.ts'
import { handleJsonRpc } from './jsonrpc.ts'
import type { MethodTable } from './jsonrpc.ts'
import { SocketSubscriptions } from './subscriptions.ts'

/** bytes of answers and notifications a socket may leave untaken (default) */
export const DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024
/** calls of one socket running at once; beyond it the socket is not read until one ends */
export const MAX_CALLS_IN_FLIGHT = 32
/** a closing socket that does not finish the closing handshake is cut after this long */
const CLOSE_GRACE_MS = 1000

/** WebSocket close codes (RFC 6455) */
const POLICY_VIOLATION = 1008
const GOING_AWAY = 1001

export interface WebSocketRpcInit {
  methods: MethodTable
  /** whether `token` is the RPC token in force now */
  checkToken(token: string): boolean
  maxMessageBytes: number
  maxBufferedBytes?: number
  /** a socket not authenticated within this long is closed */
  authTimeoutMs: number
  log: Logger
}

export interface WebSocketRpc {
  /** completes the upgrade of a request the server admitted */
  accept(req: http.IncomingMessage, socket: Duplex, head: Buffer, options: { authenticated: boolean }): void
  /** open sockets, and the subscriptions they hold */
  stats(): { sockets: number, subscriptions: number }
  /** closes every socket (1001) */
  close(): Promise<void>
}

export function webSocketRpc (init: WebSocketRpcInit): WebSocketRpc {
  const { log } = init
  const maxBuffered = init.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES
  const wss = new WebSocketServer({ noServer: true, maxPayload: init.maxMessageBytes, clientTracking: false })
  const open = new Map<WebSocket, { subscriptions: SocketSubscriptions, close: (code: number, reason: string) => void, closed: Promise<void> }>()

  const serve = (ws: WebSocket, authenticated: boolean): void => {
    const controller = new AbortController()
    let inFlight = 0
    let closing = false

    const close = (code: number, reason: string): void => {
      if (closing) return
      closing = true
      ws.close(code, reason)
      // a peer that does not answer the close (or does not read) does not keep the socket
      setTimeout(() => { ws.terminate() }, CLOSE_GRACE_MS).unref()
    }
    const send = (message: string): void => {
      if (closing || ws.readyState !== ws.OPEN) return
      if (ws.bufferedAmount + Buffer.byteLength(message) > maxBuffered) {
        log.warn('RPC WebSocket closed: the client does not take its messages', { maxBufferedBytes: maxBuffered })
        close(POLICY_VIOLATION, `too slow: more than ${maxBuffered} bytes waiting to be sent`)
        return
      }
      ws.send(message)
    }
    const subscriptions = new SocketSubscriptions({
      send,
      overflow: () => { close(POLICY_VIOLATION, 'too slow: notifications held past their limit') }
    })
    const { promise: closed, resolve: onClosed } = Promise.withResolvers<void>()
    open.set(ws, { subscriptions, close, closed })

    const authTimer = authenticated
      ? undefined
      : setTimeout(() => { close(POLICY_VIOLATION, 'Unauthorized: no rpc.auth with the token in time') }, init.authTimeoutMs)
    authTimer?.unref()

    const authenticate = (text: string): void => {
      const token = authToken(text)
      if (token == null) {
        close(POLICY_VIOLATION, 'Unauthorized: send rpc.auth with the token from <repo>/rpc.token first')
        return
      }
      if (!init.checkToken(token.token)) {
        close(POLICY_VIOLATION, 'Unauthorized: wrong token')
        return
      }
      authenticated = true
      if (authTimer != null) clearTimeout(authTimer)
      if (token.id !== undefined) send(JSON.stringify({ jsonrpc: '2.0', id: token.id, result: { authenticated: true } }))
    }

    const call = async (text: string): Promise<void> => {
      const { host, live } = subscriptions.forMessage()
      const answer = await handleJsonRpc(text, init.methods, {
        signal: controller.signal,
        subscriptions: host,
        progress: (id) => progressSender(id, send),
        onInternalError: (method, err) => { log.error('RPC method failed', { method, error: (err as Error)?.stack ?? String(err) }) }
      })
      if (answer != null) send(answer)
      live()
    }

    // (binaryType "nodebuffer", the default: every message is one Buffer; binary frames are read as text too)
    ws.on('message', (data: Buffer) => {
      if (closing) return
      const text = data.toString('utf8')
      if (!authenticated || (text.includes('rpc.auth') && authToken(text) != null)) {
        authenticate(text)
        return
      }
      inFlight++
      if (inFlight >= MAX_CALLS_IN_FLIGHT) ws.pause()
      call(text).catch(err => {
        log.error('RPC WebSocket message failed', { error: (err as Error)?.stack ?? String(err) })
      }).finally(() => {
        inFlight--
        if (inFlight < MAX_CALLS_IN_FLIGHT && ws.isPaused) ws.resume()
      })
    })
    ws.on('error', err => {
      // too large a message (ws closes with 1009), a broken frame, a reset: the socket ends
      log.debug('RPC WebSocket error', { error: err.message })
    })
    ws.on('close', () => {
      closing = true
      if (authTimer != null) clearTimeout(authTimer)
      controller.abort()
      subscriptions.closeAll()
      open.delete(ws)
      onClosed()
    })
  }

  return {
    accept: (req, socket, head, { authenticated }) => {
      wss.handleUpgrade(req, socket, head, ws => { serve(ws, authenticated) })
    },
    stats: () => ({ sockets: open.size, subscriptions: [...open.values()].reduce((n, s) => n + s.subscriptions.size, 0) }),
    close: async () => {
      const sockets = [...open.values()]
      for (const socket of sockets) socket.close(GOING_AWAY, 'the daemon is stopping')
      await Promise.all(sockets.map(async socket => { await socket.closed }))
      await new Promise<void>(resolve => { wss.close(() => { resolve() }) })
    }
  }
}

/** The token (and the id to answer) of an `rpc.auth` request (its params checked against the table); undefined for anything else. */
function authToken (text: string): { token: string, id?: string | number | null } | undefined {
  let message: unknown
  try {
    message = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof message !== 'object' || message == null || Array.isArray(message)) return undefined
  const { jsonrpc, method, params, id } = message as Record<string, unknown>
  if (jsonrpc !== '2.0' || method !== 'rpc.auth') return undefined
  const parsed = parseParams('rpc.auth', params)
  if (!parsed.ok) return undefined
  if (id !== undefined && id !== null && typeof id !== 'string' && typeof id !== 'number') return undefined
  return { token: parsed.value.token, ...(id === undefined ? {} : { id }) }
}

/** progress notifications of one call: at most one per event type in this long (the answer says where it ended) */
const PROGRESS_EVERY_MS = 100

/**
 * A long call's progress over its socket: `{"jsonrpc":"2.0","method":"progress",
 * "params":{"request":ID,"event":{type,detail}}}`, at most one per event type
 * per PROGRESS_EVERY_MS, before the call's answer.
 */
function progressSender (id: string | number | null, send: (message: string) => void): (event: { type: string, detail: unknown }) => void {
  const last = new Map<string, number>()
  return (event) => {
    const now = performance.now()
    if (now - (last.get(event.type) ?? -Infinity) < PROGRESS_EVERY_MS) return
    last.set(event.type, now)
    send(JSON.stringify({ jsonrpc: '2.0', method: 'progress', params: { request: id, event } }))
  }
}
