/**
 * The daemon's last line of defence: an error that escaped every handler
 * (a promise rejection nobody handled, an exception thrown from a callback)
 * is logged at `error` with its stack, and the daemon keeps serving
 * everyone else. Each one is a bug to fix where it starts; the test suite
 * fails when one happens, and the e2e tests fail when a daemon logs this.
 */
import type { Logger } from './logger.ts'

export const ESCAPED_ERROR_MESSAGE = 'an error escaped every handler; the daemon keeps serving (this is a bug: please report it)'

/** Install the guard on this process; returns a function that removes it. */
export function installProcessGuard (log: Logger): () => void {
  const report = (kind: string) => (error: unknown): void => {
    try {
      log.error(ESCAPED_ERROR_MESSAGE, { kind, error: error instanceof Error ? (error.stack ?? error.message) : String(error) })
    } catch {
      // nowhere left to report it: keep serving
    }
  }
  const onRejection = report('unhandled rejection')
  const onException = report('uncaught exception')
  process.on('unhandledRejection', onRejection)
  process.on('uncaughtException', onException)
  return () => {
    process.off('unhandledRejection', onRejection)
    process.off('uncaughtException', onException)
  }
}
