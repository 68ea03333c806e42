/**
 * Loaded by mocha before every spec (.mocharc.json `require`): a root hook
 * that fails the suite when a promise rejection goes unhandled or an
 * exception escapes, anywhere, during any test. Mocha by itself only
 * forwards unhandled rejections to other listeners, so without this they
 * would pass unseen; in a daemon each one is a process that could exit.
 */
const escaped: Array<{ kind: string, error: unknown }> = []
const record = (kind: string) => (error: unknown): void => {
  // mocha re-emits the unhandled rejections it sees: count each once
  if (!escaped.some(e => e.error === error)) escaped.push({ kind, error })
}

process.on('unhandledRejection', record('unhandled rejection'))
process.on('uncaughtException', record('uncaught exception'))

function check (): void {
  if (escaped.length === 0) return
  const found = escaped.splice(0)
  const lines = found.map(({ kind, error }) => `${kind}: ${(error as Error)?.stack ?? String(error)}`)
  throw new Error(`${found.length} error(s) escaped every handler during this test:\n${lines.join('\n')}`)
}

export const mochaHooks = {
  afterEach: check,
  afterAll: check
}
