/**
 * Open sessions (one stream each) to peers, reused across requests, for any
 * protocol client. A session whose stream has ended, been reset or idled out
 * is dropped and never handed out again; a call that fails because its
 * stream had ended (StreamClosedError) is made once more on a new stream,
 * transparently, before it fails.
 *
 * Opening a stream is shared by everyone waiting for one to that peer, so it
 * is bound by the pool's own deadline and shutdown, never by one caller's
 * signal: a caller that gives up stops waiting, the open goes on for the
 * others, and its failure always has a handler.
 */
import type { PeerId } from '@libp2p/interface'
import { raceSignal } from 'race-signal'
import { AbortedError, StreamClosedError } from '../errors.ts'

export interface PooledSession {
  readonly closed: boolean
  close(): Promise<void>
}

export interface SessionPoolInit<S extends PooledSession> {
  /** opens a session on a new stream to `peer` */
  open(peer: PeerId, options: { signal: AbortSignal }): Promise<S>
  /** streams per peer (default 1): a new one is opened while there are fewer, else they take turns */
  streamsPerPeer?: number
  /** bound on opening a stream (default 10 s) */
  openTimeoutMs?: number
}

export class SessionPool<S extends PooledSession> {
  private readonly init: SessionPoolInit<S>
  private readonly sessions = new Map<string, S[]>()
  private readonly opening = new Map<string, Promise<S>>()
  private readonly shutdown = new AbortController()
  private turn = 0

  constructor (init: SessionPoolInit<S>) {
    this.init = init
  }

  /** A session to `peer`: a new stream while it has fewer than `streamsPerPeer` open, else one of those. */
  async get (peer: PeerId, options: { signal?: AbortSignal } = {}): Promise<S> {
    const key = peer.toString()
    const open = this.live(key)
    if (open.length < (this.init.streamsPerPeer ?? 1)) {
      const opening = this.openOne(peer, key)
      if (open.length === 0) return await this.wait(opening, options.signal)
    }
    return open[this.turn++ % open.length]
  }

  /**
   * Run `fn` on a session to `peer`. When it fails because the stream had
   * ended (the peer closed an idle stream, a reset), it runs once more on a
   * new stream; any other failure, or a second one, is the caller's.
   */
  async call<T> (peer: PeerId, fn: (session: S) => Promise<T>, options: { signal?: AbortSignal } = {}): Promise<T> {
    const first = await this.get(peer, options)
    try {
      return await fn(first)
    } catch (err) {
      if (!(err instanceof StreamClosedError) || options.signal?.aborted === true) throw err
      const key = peer.toString()
      // the other pooled sessions may have ended as well: a new stream
      return await fn(await this.wait(this.openOne(peer, key), options.signal))
    }
  }

  /** Close the sessions to `peer` (it left). */
  async drop (peer: PeerId): Promise<void> {
    const key = peer.toString()
    const sessions = this.sessions.get(key) ?? []
    this.sessions.delete(key)
    await Promise.allSettled(sessions.map(async s => { await s.close() }))
  }

  /** Close every session; opens in progress are abandoned and nothing new is opened. */
  async closeAll (): Promise<void> {
    this.shutdown.abort(new AbortedError('The session pool was closed'))
    const all = [...this.sessions.values()].flat()
    this.sessions.clear()
    await Promise.allSettled([...all.map(async s => { await s.close() }), ...this.opening.values()])
  }

  private live (key: string): S[] {
    const open = (this.sessions.get(key) ?? []).filter(s => !s.closed)
    if (open.length > 0) this.sessions.set(key, open)
    else this.sessions.delete(key)
    return open
  }

  /** One stream being opened to `peer` at a time, shared by whoever waits for it. */
  private openOne (peer: PeerId, key: string): Promise<S> {
    let opening = this.opening.get(key)
    if (opening != null) return opening
    if (this.shutdown.signal.aborted) return Promise.reject(new AbortedError('The session pool is closed'))
    const signal = AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(this.init.openTimeoutMs ?? 10_000)])
    opening = (async () => {
      try {
        const session = await this.init.open(peer, { signal })
        if (this.shutdown.signal.aborted) {
          await session.close()
          throw new AbortedError('The session pool is closed')
        }
        this.sessions.set(key, [...this.live(key), session])
        return session
      } finally {
        this.opening.delete(key)
      }
    })()
    // whoever waits sees the failure; with no one waiting it is not an error
    opening.catch(() => {})
    this.opening.set(key, opening)
    return opening
  }

  private async wait (opening: Promise<S>, signal?: AbortSignal): Promise<S> {
    return await raceSignal(opening, signal, { translateError: () => new AbortedError('Opening a stream to the peer was aborted') })
  }
}
