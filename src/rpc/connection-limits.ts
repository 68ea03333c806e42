/**
 * The RPC port's connection limits, kept on the sockets by the server itself
 * (so that they hold on Deno, whose node:http ignores maxConnections and
 * headersTimeout): at most `maxConnections` open, the headers within
 * `readTimeoutMs`, a body at least MIN_BODY_BYTES_PER_WINDOW per
 * `readTimeoutMs` while it is awaited; `closeSoon` for refused requests;
 * `onUpgrade` for a connection that became a WebSocket (still counted).
 */
import type http from 'node:http'
import type { Socket } from 'node:net'
import { clearTimeout, setTimeout } from 'node:timers'
import type { Logger } from '../platform/logger.ts'

export const DEFAULT_MAX_CONNECTIONS = 256
export const DEFAULT_READ_TIMEOUT_MS = 10_000
/** a request body must deliver at least this many bytes in every read window */
export const MIN_BODY_BYTES_PER_WINDOW = 1024
/** at most one warning per kind (refused, cut) in this long */
const WARN_EVERY_MS = 5_000

export interface ConnectionLimitsInit {
  maxConnections: number
  readTimeoutMs: number
  log: Logger
}

interface ConnectionState {
  /**
   * headers: waiting for a request's headers (deadline: one window);
   * body: a request's body is being received (a window must bring 1 KiB);
   * busy: the last request is all in, its answer is being made (no deadline);
   * upgraded: a WebSocket now (counted until it closes, no HTTP deadline)
   */
  phase: 'headers' | 'body' | 'busy' | 'upgraded'
  timer?: ReturnType<typeof setTimeout>
  /** the latest request on the connection */
  req?: http.IncomingMessage
  /** requests whose answers have not finished (more than one when pipelined) */
  open: number
  /** socket.bytesRead at the start of the current window */
  mark: number
  /**
   * whether the server held unread bytes of the request at the start of the
   * current window (then it may have stopped reading the socket for part of it)
   */
  held: boolean
}

/**
 * Counts and times the connections of one server itself, on the sockets, so
 * that the limits hold on runtimes whose node:http ignores maxConnections or
 * headersTimeout (Deno). A body window that began or ended with bytes of the
 * request received but unread (so the server may have stopped reading the
 * socket) is the server's slowness, not the client's: it never counts.
 */
export function connectionLimits (init: ConnectionLimitsInit): {
  readTimeoutMs: number
  onConnection: (socket: Socket) => void
  onRequest: (req: http.IncomingMessage, res: http.ServerResponse) => void
  closeSoon: (socket: Socket) => void
  onUpgrade: (socket: Socket) => void
} {
  const { maxConnections, readTimeoutMs, log } = init
  const states = new Map<Socket, ConnectionState>()
  const warnRefused = rateLimited(log, 'RPC connections refused: too many open', { maxConnections })
  const warnSlow = rateLimited(log, 'RPC connections closed: headers or body too slow', { readTimeoutMs, minBytes: MIN_BODY_BYTES_PER_WINDOW })

  const arm = (socket: Socket, state: ConnectionState): void => {
    if (state.timer != null) clearTimeout(state.timer)
    state.timer = setTimeout(() => { tick(socket, state) }, readTimeoutMs)
    state.timer.unref()
  }

  const cut = (socket: Socket): void => {
    warnSlow()
    socket.destroy()
  }

  const tick = (socket: Socket, state: ConnectionState): void => {
    state.timer = undefined
    if (socket.destroyed) return
    if (state.phase === 'headers') {
      cut(socket)
      return
    }
    if (state.phase !== 'body' || state.req == null) return
    const req = state.req
    if (!req.complete) {
      const delivered = socket.bytesRead - state.mark
      const held = heldBytes(socket, req) > 0
      if (delivered < MIN_BODY_BYTES_PER_WINDOW && !held && !state.held) {
        cut(socket)
        return
      }
      state.mark = socket.bytesRead
      state.held = held
      arm(socket, state)
      return
    }
    if (state.open === 0) {
      state.phase = 'headers'
      arm(socket, state)
    } else {
      state.phase = 'busy'
    }
  }

  return {
    readTimeoutMs,
    onConnection: (socket) => {
      if (states.size >= maxConnections) {
        warnRefused()
        socket.destroy()
        return
      }
      const state: ConnectionState = { phase: 'headers', open: 0, mark: 0, held: false }
      states.set(socket, state)
      socket.once('close', () => {
        if (state.timer != null) clearTimeout(state.timer)
        states.delete(socket)
      })
      arm(socket, state)
    },
    onRequest: (req, res) => {
      const socket = req.socket
      const state = states.get(socket)
      if (state == null) return
      state.req = req
      state.open++
      state.phase = 'body'
      state.mark = socket.bytesRead
      state.held = heldBytes(socket, req) > 0
      arm(socket, state)
      let done = false
      const finished = (): void => {
        if (done) return
        done = true
        state.open--
        if (state.open > 0 || socket.destroyed) return
        // else the body is still coming after the answer: its windows go on
        if (req.complete) {
          state.phase = 'headers'
          arm(socket, state)
        }
      }
      res.once('finish', finished)
      res.once('close', finished)
    },
    /** The connection is a WebSocket now: still counted, but its HTTP deadlines end (the WebSocket keeps its own). */
    onUpgrade: (socket) => {
      const state = states.get(socket)
      if (state == null) return
      if (state.timer != null) clearTimeout(state.timer)
      state.timer = undefined
      state.phase = 'upgraded'
    },
    closeSoon: (socket) => {
      if (socket.destroyed) return
      socket.end()
      if (socket.writableFinished) {
        socket.destroy()
        return
      }
      socket.once('finish', () => { socket.destroy() })
      // a client that does not take the answer does not keep the socket
      setTimeout(() => { socket.destroy() }, readTimeoutMs).unref()
    }
  }
}

/** Bytes of the request received but not yet read by its handler. */
function heldBytes (socket: Socket, req: http.IncomingMessage): number {
  return req.readableLength + socket.readableLength
}

/** A warning logged at most once per WARN_EVERY_MS, with the number of events since the last one. */
function rateLimited (log: Logger, message: string, fields: Record<string, unknown>): () => void {
  let count = 0
  let last = -Infinity
  return () => {
    count++
    const now = Date.now()
    if (now - last < WARN_EVERY_MS) return
    log.warn(message, { ...fields, count })
    count = 0
    last = now
  }
}
