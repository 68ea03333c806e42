/**
 * Pipelined request / answer over one stream of frames (codec.ts), both
 * sides, for every shoal protocol:
 *
 * - the server (`pipelinedHandler`) works on requests as they arrive, a
 *   bounded number at once, and writes the answers in request order; a
 *   stream with nothing in flight and no frame for `idleTimeoutMs` is closed
 *   gracefully (the client sees a clean end of stream, not a reset);
 * - the client (`PipelinedClient`) writes requests at once and matches the
 *   answers in order. Its stream is read all the time, so a peer that closes
 *   or resets it is noticed at once and the session is marked closed before
 *   anyone writes to it again. A client with nothing pending closes itself
 *   after `idleCloseMs`, which is shorter than the server's idle timeout, so
 *   normally the client ends an idle stream, not the server.
 *
 * One abort rule: a caller whose signal aborts is rejected at once, and only
 * that caller. Its request stays in the queue (a frame half written would
 * break the stream; its answer is read and dropped), so callers can share a
 * session. A session fails as a whole only when the stream does (closed,
 * reset, a write that fails), when the peer breaks the protocol, or when it
 * sends nothing for `requestTimeoutMs` while requests are pending.
 *
 * A request made on a session whose stream has ended fails with
 * StreamClosedError; that (and nothing else) is what SessionPool.call
 * retries once on a fresh stream.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { raceSignal } from 'race-signal'
import { AbortedError, PeerRefusedError, ProtocolError, ShoalError, StreamClosedError, TimeoutError } from '../errors.ts'
import type { Logger } from '../platform/logger.ts'
import { encodeFrame, FramedStream, isString } from './codec.ts'
import type { Frame, FrameLimits } from './codec.ts'
import { flowLimits, PeerBudget } from './flow.ts'
import type { FlowLimits } from './flow.ts'

// ---- server ----

export interface PipelineInit<R> {
  /** a stream with nothing in flight and no frame for this long is closed */
  idleTimeoutMs: number
  /** checks and types one request frame; throws ProtocolError */
  decode(frame: Frame): R
  /** the answer frames to one request; the work starts at once */
  answer(request: R): Promise<object[]>
  /** what a request costs of the in-flight budget */
  weight(request: R): number
  /** the next frame is read only while the in-flight weight is at most this */
  maxWeight: number
}

/** Thrown by servePipelined when the client sent nothing for the idle timeout: not a failure. */
class IdleTimeout extends Error {}

/**
 * Serve requests as they arrive: each one's work starts at once, at most
 * `maxWeight` of them are in flight, and the answers are written in request
 * order. Returns when the peer closes its side or the stream idles out;
 * throws on a protocol error or a failed write.
 */
async function servePipelined<R> (framed: FramedStream, init: PipelineInit<R>): Promise<'ended' | 'idle'> {
  // answers are written in request order: each waits for the one before
  let written: Promise<void> = Promise.resolve()
  const inFlight: Array<{ weight: number, done: Promise<void> }> = []
  let weight = 0
  let pending = 0
  // the idle clock runs only while nothing is in flight
  let idle: { controller: AbortController, timer?: ReturnType<typeof setTimeout> } = { controller: new AbortController() }
  const armIdle = (): void => {
    clearTimeout(idle.timer)
    const { controller } = idle
    idle.timer = setTimeout(() => { controller.abort(new IdleTimeout()) }, init.idleTimeoutMs)
    idle.timer.unref?.()
  }
  try {
    armIdle()
    while (true) {
      let frame
      try {
        frame = await framed.read({ signal: idle.controller.signal })
      } catch (err) {
        if (idle.controller.signal.reason instanceof IdleTimeout && idle.controller.signal.aborted) return 'idle'
        throw err
      }
      clearTimeout(idle.timer)
      idle = { controller: new AbortController() }
      if (frame == null) break
      const request = init.decode(frame)
      const w = init.weight(request)
      const answers = init.answer(request)
      answers.catch(() => {}) // reported through `written`
      const previous = written
      pending++
      written = (async () => {
        await previous
        for (const message of await answers) await framed.write(message)
      })()
      const done = written.finally(() => {
        weight -= w
        if (--pending === 0) armIdle()
      })
      done.catch(() => {})
      inFlight.push({ weight: w, done })
      weight += w
      while (weight > init.maxWeight && inFlight.length > 0) await inFlight.shift()?.done
    }
    await written
    return 'ended'
  } finally {
    clearTimeout(idle.timer)
  }
}

/**
 * A protocol handler that serves each inbound stream with servePipelined and
 * closes it when the peer is done or it idled out. What the peers may send
 * ahead of the server is bounded per stream, per peer and in all (flow.ts). A stream that fails is
 * logged, as `what`, and aborted: at debug when the peer just went away
 * mid-answer, at warn when it broke the protocol.
 */
export function pipelinedHandler<R> (what: string, limits: FrameLimits & { flow?: Partial<FlowLimits> }, log: Logger, init: (peer: PeerId) => PipelineInit<R>): (stream: Stream, connection: Connection) => Promise<void> {
  // what the peers' inbound streams may hold unread (flow.ts), one budget per handler
  const budget = new PeerBudget(flowLimits(limits.maxFrameBytes, limits.flow))
  return async (stream, connection) => {
    const peer = connection.remotePeer
    try {
      const end = await servePipelined(new FramedStream(stream, limits, budget.track(stream, peer)), init(peer))
      if (end === 'idle') log.debug(`${what} stream from peer idled out; closing it`, { peer: peer.toString() })
      await stream.close({ signal: AbortSignal.timeout(5000) })
    } catch (err) {
      const level = err instanceof ShoalError && !(err instanceof StreamClosedError) ? 'warn' : 'debug'
      log[level](`${what} stream from peer failed`, { peer: peer.toString(), error: (err as Error).message })
      stream.abort(err as Error)
    }
  }
}

// ---- client ----

export interface ClientLimits extends FrameLimits {
  /** while requests are pending, the peer must send a frame at least this often, else the session fails */
  requestTimeoutMs: number
  /** a session with nothing pending closes itself after this long (keep it below the server's idle timeout) */
  idleCloseMs: number
}

/** Takes one answer frame of a request: `{ value }` when it is complete, undefined while more frames are due. Throws ProtocolError. */
export type TakeAnswer<T> = (frame: Frame) => { value: T } | undefined

interface Pending {
  id: number
  /** the request's type, for messages */
  t: string
  take: TakeAnswer<unknown>
  resolve(value: unknown): void
  reject(err: Error): void
}

/** Most characters of an error answer's message and code (both protocols). */
export const MAX_ERROR_MESSAGE = 1024
const MAX_ERROR_CODE = 64

/**
 * One outbound stream to one peer, requests pipelined on it (see the top of
 * this file). Protocol clients extend it with typed calls over `request`.
 */
export class PipelinedClient {
  readonly peer: PeerId
  /** what the stream carries, for messages ("block", "name") */
  protected readonly what: string
  private readonly framed: FramedStream
  private readonly limits: ClientLimits
  private readonly queue: Pending[] = []
  private nextId = 0
  private failed?: Error
  private requestTimer?: ReturnType<typeof setTimeout>
  private idleTimer?: ReturnType<typeof setTimeout>

  constructor (stream: Stream, peer: PeerId, limits: ClientLimits, what: string) {
    this.peer = peer
    this.what = what
    this.limits = limits
    this.framed = new FramedStream(stream, limits)
    void this.readLoop()
    this.armIdle()
  }

  /** frame bytes this session read and wrote */
  get traffic (): { read: number, written: number } {
    return { ...this.framed.traffic }
  }

  /** true once the stream has ended (either side), failed or idled out: the pool drops it */
  get closed (): boolean {
    return this.failed != null
  }

  /**
   * Send one request (built with its id) and wait for its answer, taken from
   * one or more frames by `take`. An abort rejects this caller only.
   */
  protected async request<T> (build: (id: number) => object, take: TakeAnswer<T>, options: { signal?: AbortSignal } = {}): Promise<T> {
    if (this.failed != null) throw this.closedError()
    if (options.signal?.aborted === true) throw new AbortedError(`The ${this.what} request was aborted`)
    const id = this.nextId++
    // encoded before it is queued: a request too large for a frame fails only its caller
    const message = build(id) as { t: string }
    const frame = encodeFrame(message, this.limits.maxFrameBytes)
    const { promise, resolve, reject } = Promise.withResolvers<unknown>()
    // an aborted caller no longer waits for it
    promise.catch(() => {})
    this.queue.push({ id, t: message.t, take, resolve, reject })
    this.busy()
    this.framed.writeFrame(frame).catch((err: unknown) => { this.fail(this.streamError(err, 'could not be written to')) })
    return await raceSignal(promise as Promise<T>, options.signal, {
      translateError: () => new AbortedError(`The ${this.what} request was aborted`)
    })
  }

  /** Close gracefully: pending requests are refused; the peer sees a clean end of stream. */
  async close (): Promise<void> {
    if (this.failed != null) return
    this.settle(new AbortedError(`The ${this.what} session was closed`))
    await this.framed.stream.close({ signal: AbortSignal.timeout(5000) }).catch((err: Error) => { this.framed.stream.abort(err) })
  }

  private closedError (): StreamClosedError {
    const reason = this.failed
    if (reason instanceof StreamClosedError) return reason
    return new StreamClosedError(`The ${this.what} stream to peer ${this.peer.toString()} is closed${reason == null ? '' : `: ${reason.message}`}`, { cause: reason })
  }

  /** Errors of the stream itself (reset, ended, closed) become StreamClosedError; shoal's own errors stay. */
  private streamError (err: unknown, how: string): Error {
    if (err instanceof ShoalError) return err
    const message = err instanceof Error ? err.message : 'the stream closed'
    return new StreamClosedError(`The ${this.what} stream to peer ${this.peer.toString()} ${how}: ${message}`, { cause: err })
  }

  private async readLoop (): Promise<void> {
    try {
      while (true) {
        const frame = await this.framed.read()
        if (frame == null) {
          this.fail(new StreamClosedError(`Peer ${this.peer.toString()} closed the ${this.what} stream${this.queue.length > 0 ? ' with requests pending' : ''}`))
          return
        }
        this.answer(frame)
      }
    } catch (err) {
      this.fail(this.streamError(err, 'failed'))
    }
  }

  private answer (frame: Frame): void {
    const head = this.queue[0]
    if (head == null) throw new ProtocolError(`Peer ${this.peer.toString()} sent a "${frame.t}" answer nobody asked for`)
    if (frame.id !== head.id) throw new ProtocolError(`Peer ${this.peer.toString()} answered out of order`)
    // the peer is alive: the request clock starts again
    this.busy()
    if (frame.t === 'error') {
      this.queue.shift()
      head.reject(this.refusal(frame, head.t))
    } else {
      const taken = head.take(frame)
      if (taken == null) return
      this.queue.shift()
      head.resolve(taken.value)
    }
    if (this.queue.length === 0) this.armIdle()
  }

  private refusal (frame: Frame, request: string): PeerRefusedError {
    const m = frame.m
    const c = frame.c
    if (!isString(m) || m.length > MAX_ERROR_MESSAGE) throw new ProtocolError('Malformed "error" message: "m" must be a short string')
    if (c !== undefined && (!isString(c) || c.length > MAX_ERROR_CODE)) throw new ProtocolError('Malformed "error" message: "c" must be a short string')
    return new PeerRefusedError(`Peer ${this.peer.toString()} refused the ${this.what} ${request}: ${m}${c == null ? '' : ` (${c})`}`, c)
  }

  /** A request is pending: the peer must answer within requestTimeoutMs; no idle close meanwhile. */
  private busy (): void {
    clearTimeout(this.idleTimer)
    clearTimeout(this.requestTimer)
    this.requestTimer = setTimeout(() => {
      this.fail(new TimeoutError(`Peer ${this.peer.toString()} did not answer a ${this.what} request within ${this.limits.requestTimeoutMs} ms`))
    }, this.limits.requestTimeoutMs)
    this.requestTimer.unref?.()
  }

  private armIdle (): void {
    clearTimeout(this.requestTimer)
    clearTimeout(this.idleTimer)
    this.idleTimer = setTimeout(() => { void this.close() }, this.limits.idleCloseMs)
    this.idleTimer.unref?.()
  }

  /** Mark the session closed with `err` and refuse every pending request (timers cleared). */
  private settle (err: Error): void {
    this.failed ??= err
    clearTimeout(this.requestTimer)
    clearTimeout(this.idleTimer)
    for (const p of this.queue.splice(0)) p.reject(err)
  }

  private fail (err: Error): void {
    const first = this.failed == null
    this.settle(err)
    if (first) {
      try {
        this.framed.stream.abort(err)
      } catch {
        // already gone
      }
    }
  }
}
