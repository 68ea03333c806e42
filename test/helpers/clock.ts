import type { Clock } from '../../src/platform/worker.ts'

/**
 * A clock that moves only when told: `advance(ms)` fires the timers that
 * fall due, in order, letting the promise callbacks they start run between.
 */
export class FakeClock implements Clock {
  private time: number
  private seq = 0
  private readonly timers = new Map<number, { at: number, fn: () => void }>()

  constructor (start = 1_000_000) {
    this.time = start
  }

  now (): number {
    return this.time
  }

  setTimeout (fn: () => void, ms: number): unknown {
    const id = ++this.seq
    this.timers.set(id, { at: this.time + Math.max(0, ms), fn })
    return id
  }

  clearTimeout (handle: unknown): void {
    this.timers.delete(handle as number)
  }

  /** timers waiting */
  get pending (): number {
    return this.timers.size
  }

  async advance (ms: number): Promise<void> {
    const end = this.time + ms
    while (true) {
      await flush()
      const next = [...this.timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0]
      if (next == null) break
      this.timers.delete(next[0])
      this.time = next[1].at
      next[1].fn()
    }
    this.time = end
    await flush()
  }
}

/** Let pending promise callbacks (and what they start) run. */
async function flush (): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise(resolve => setImmediate(resolve))
}
