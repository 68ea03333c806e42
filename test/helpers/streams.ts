import type { Stream } from '@libp2p/interface'

/**
 * A stand-in for a libp2p stream whose send buffer is always full: every
 * write waits for a 'drain' that never comes. `close()` ends it the way a
 * reset connection does (a 'close' event).
 */
export class FullStream extends EventTarget {
  readonly protocol: string
  readonly log = Object.assign(() => {}, { error: () => {}, trace: () => {} })
  readonly remoteWriteStatus = 'writable'
  readonly readBufferLength = 0

  constructor (protocol: string) {
    super()
    this.protocol = protocol
  }

  send (): boolean { return false }
  push (): void {}
  closeRead (): void {}
  abort (): void {}
  async close (): Promise<void> {}

  get stream (): Stream {
    return this as unknown as Stream
  }

  reset (): void {
    this.dispatchEvent(new Event('close'))
  }
}

/** Runs `fn` and returns every promise rejection nobody handled meanwhile (and shortly after). */
export async function unhandledRejectionsDuring (fn: () => Promise<void>): Promise<unknown[]> {
  const unhandled: unknown[] = []
  const onUnhandled = (err: unknown): void => { unhandled.push(err) }
  process.on('unhandledRejection', onUnhandled)
  try {
    await fn()
    await new Promise(resolve => setTimeout(resolve, 50))
  } finally {
    process.off('unhandledRejection', onUnhandled)
  }
  return unhandled
}
