/**
 * A set of listeners for one kind of event: `add` returns the function that
 * removes the listener again; `emit` calls each one, and a listener that
 * throws is logged without keeping the others (or the emitter) from going on.
 */
import type { Logger } from './logger.ts'

export class Listeners<T> {
  private readonly set = new Set<(event: T) => void>()
  private readonly what: string
  private readonly log: Logger

  /** `what` names the event in the log ("a name change listener failed"). */
  constructor (what: string, log: Logger) {
    this.what = what
    this.log = log
  }

  get size (): number {
    return this.set.size
  }

  add (listener: (event: T) => void): () => void {
    // a function added twice is two listeners: each add is undone by its own remover
    const own = (event: T): void => { listener(event) }
    this.set.add(own)
    return () => { this.set.delete(own) }
  }

  emit (event: T): void {
    for (const listener of [...this.set]) {
      try {
        listener(event)
      } catch (err) {
        this.log.error(`a ${this.what} listener failed`, { error: (err as Error)?.stack ?? String(err) })
      }
    }
  }

  clear (): void {
    this.set.clear()
  }
}
