/**
 * The child side of a benchmark worker: answers requests from the parent
 * over the IPC channel. A worker exits when its parent goes away, so no
 * worker outlives a benchmark run, whatever happens to the parent.
 */

export interface WorkerRequest {
  id: number
  method: string
  params: Record<string, unknown>
}

export interface WorkerReply {
  id: number
  result?: unknown
  error?: string
}

export type Handlers = Record<string, (params: any) => Promise<unknown>>

/**
 * Serve `handlers`; `stop` (if given) runs on the "stop" request, after which
 * the process exits.
 */
export function serve (handlers: Handlers, stop?: () => Promise<void>): void {
  if (process.send == null) {
    process.stderr.write('this is a benchmark worker: it runs as a child of bench/run.ts\n')
    process.exit(2)
  }
  const reply = (msg: WorkerReply, then?: () => void): void => {
    if (process.connected) process.send?.(msg, undefined, {}, () => { then?.() })
    else then?.()
  }
  process.on('message', (msg: WorkerRequest) => {
    if (msg == null || typeof msg.id !== 'number') return
    if (msg.method === 'stop') {
      const done = (): void => { reply({ id: msg.id, result: true }, () => process.exit(0)) }
      const timer = setTimeout(() => process.exit(0), 8000)
      timer.unref()
      ;(stop ?? (async () => {}))().then(done, done)
      return
    }
    const handler = handlers[msg.method]
    if (handler == null) {
      reply({ id: msg.id, error: `unknown method ${msg.method}` })
      return
    }
    handler(msg.params ?? {}).then(
      result => { reply({ id: msg.id, result }) },
      (err: Error) => { reply({ id: msg.id, error: err?.stack ?? String(err) }) }
    )
  })
  process.on('disconnect', () => process.exit(0))
  process.send({ ready: true })
}
