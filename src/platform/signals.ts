/**
 * Calls `onSignal` once on the first SIGINT or SIGTERM. A second signal while
 * shutting down calls `onForce`. Returns a function that removes the handlers.
 */
export function onShutdownSignal (onSignal: (signal: NodeJS.Signals) => void, onForce: (signal: NodeJS.Signals) => void): () => void {
  let received = false
  const handler = (signal: NodeJS.Signals): void => {
    if (received) {
      onForce(signal)
      return
    }
    received = true
    onSignal(signal)
  }
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM']
  for (const s of signals) process.on(s, handler)
  return () => {
    for (const s of signals) process.off(s, handler)
  }
}
