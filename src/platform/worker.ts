/**
 * Background work on one small contract: name re-sync, tombstone GC,
 * repair, anti-entropy and scrub are each a Worker.
 *
 * - `start()` / `stop()`: stop aborts the worker's shutdown signal and waits
 *   for the pass in progress; every call a pass makes gets that signal.
 * - A pass runs every `intervalMs` after the previous one ended, and soon
 *   after `trigger()` (several triggers in a row make one pass). A pass that
 *   fails is logged; the next one runs as planned. Passes never overlap.
 * - Time comes from an injectable Clock, so tests drive workers with a fake
 *   clock instead of sleeping; a RateLimiter caps the bytes a worker moves.
 */
import { AbortedError } from '../errors.ts'
import { silentLogger } from './logger.ts'
import type { Logger } from './logger.ts'

export interface Clock {
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/** The real clock; its timers never keep the process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const timer = setTimeout(fn, ms)
    timer.unref?.()
    return timer
  },
  clearTimeout: (handle) => { clearTimeout(handle as ReturnType<typeof setTimeout>) }
}

/** Wait `ms` on `clock`; rejects with AbortedError when `signal` aborts first. */
export async function sleep (ms: number, options: { clock?: Clock, signal?: AbortSignal } = {}): Promise<void> {
  const clock = options.clock ?? systemClock
  const { signal } = options
  if (signal?.aborted === true) throw new AbortedError()
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clock.clearTimeout(handle)
      reject(new AbortedError())
    }
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

export interface WorkerInit {
  /** for the log */
  name: string
  /** a pass runs this long after the previous one ended; 0: only when triggered */
  intervalMs: number
  /** the first pass runs this long after start (default: intervalMs; 0 with intervalMs 0: not until triggered) */
  initialDelayMs?: number
  /** one pass; `signal` aborts when the worker stops */
  run(signal: AbortSignal): Promise<void>
  clock?: Clock
  logger?: Logger
}

export class Worker {
  private readonly init: WorkerInit
  private readonly clock: Clock
  private readonly log: Logger
  private shutdown = new AbortController()
  private timer?: unknown
  private due = Infinity
  private current?: Promise<void>
  private again = false
  private started = false
  /** passes finished (failed ones included) */
  passes = 0

  constructor (init: WorkerInit) {
    this.init = init
    this.clock = init.clock ?? systemClock
    this.log = init.logger ?? silentLogger
  }

  get running (): boolean {
    return this.current != null
  }

  start (): void {
    if (this.started) return
    this.started = true
    this.shutdown = new AbortController()
    const first = this.init.initialDelayMs ?? this.init.intervalMs
    if (first > 0 || this.init.intervalMs > 0) this.schedule(first)
  }

  /** Stop: no new pass; the one in progress sees its signal abort, and is waited for. */
  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.shutdown.abort(new AbortedError(`The ${this.init.name} worker is stopping`))
    if (this.timer != null) this.clock.clearTimeout(this.timer)
    this.timer = undefined
    this.due = Infinity
    await this.current?.catch(() => {})
  }

  /** Run a pass `delayMs` from now (or right after the one in progress), unless one is due sooner. */
  trigger (delayMs = 0): void {
    if (!this.started) return
    if (this.current != null && delayMs === 0) {
      this.again = true
      return
    }
    this.schedule(delayMs)
  }

  /** Resolves when the pass in progress, if any, has ended (tests). */
  async idle (): Promise<void> {
    while (this.current != null) await this.current.catch(() => {})
  }

  private schedule (delayMs: number): void {
    const at = this.clock.now() + delayMs
    if (at >= this.due) return
    if (this.timer != null) this.clock.clearTimeout(this.timer)
    this.due = at
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined
      this.due = Infinity
      this.pass()
    }, delayMs)
  }

  private pass (): void {
    if (!this.started) return
    if (this.current != null) {
      this.again = true
      return
    }
    const signal = this.shutdown.signal
    this.current = (async () => {
      try {
        await this.init.run(signal)
      } catch (err) {
        if (!signal.aborted) this.log.warn(`${this.init.name} failed; it runs again later`, { error: (err as Error)?.message ?? String(err) })
      } finally {
        this.passes++
      }
    })().finally(() => {
      this.current = undefined
      if (!this.started) return
      if (this.again) {
        this.again = false
        this.schedule(0)
      } else if (this.init.intervalMs > 0) {
        this.schedule(this.init.intervalMs)
      }
    })
  }
}

/**
 * A token bucket over bytes: `take(n)` waits until n bytes are in the
 * bucket (or a full bucket, for n above the burst, which then goes into
 * debt that the next takes wait out), so the average stays at the rate and
 * a request larger than the burst never waits forever. `refund` gives back
 * what was taken and not used (a transfer smaller than estimated).
 */
export class RateLimiter {
  private readonly bytesPerSecond: number
  private readonly burst: number
  private readonly clock: Clock
  private tokens: number
  private last: number

  constructor (init: { bytesPerSecond: number, burst?: number, clock?: Clock }) {
    this.bytesPerSecond = init.bytesPerSecond
    this.burst = init.burst ?? Math.max(1, init.bytesPerSecond / 10)
    this.clock = init.clock ?? systemClock
    this.tokens = this.burst
    this.last = this.clock.now()
  }

  async take (bytes: number, signal?: AbortSignal): Promise<void> {
    if (!Number.isFinite(this.bytesPerSecond)) return
    const need = Math.min(bytes, this.burst)
    this.refill()
    while (this.tokens < need) {
      await sleep(Math.ceil((need - this.tokens) * 1000 / this.bytesPerSecond), { clock: this.clock, signal })
      this.refill()
    }
    this.tokens -= bytes
  }

  refund (bytes: number): void {
    this.refill()
    this.tokens = Math.min(this.burst, this.tokens + bytes)
  }

  private refill (): void {
    const now = this.clock.now()
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.bytesPerSecond / 1000)
    this.last = now
  }
}
