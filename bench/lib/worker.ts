/**
 * The parent side of a benchmark worker: a Node child process (one of
 * bench/workers/*.ts) driven by request/response messages over the IPC
 * channel. Every call has a deadline; the child exits when the channel goes.
 */
import { fork } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { ProcessScope, withTimeout } from './proc.ts'
import type { WorkerReply, WorkerRequest } from '../workers/ipc.ts'

const MAX_LOG = 8192

export class Worker {
  readonly name: string
  readonly child: ChildProcess
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()
  private log = ''
  private readonly exited: Promise<void>

  private constructor (name: string, child: ChildProcess) {
    this.name = name
    this.child = child
    const keep = (c: Buffer): void => { this.log = (this.log + c.toString()).slice(-MAX_LOG) }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    child.on('message', (msg: WorkerReply) => {
      if (typeof msg !== 'object' || msg == null || !('id' in msg)) return
      const p = this.pending.get(msg.id)
      if (p == null) return
      this.pending.delete(msg.id)
      if (msg.error != null) p.reject(new Error(`${this.name}: ${msg.error}`))
      else p.resolve(msg.result)
    })
    this.exited = new Promise(resolve => {
      child.once('exit', (code, signal) => {
        const err = new Error(`${this.name} exited (${code ?? signal}) ${this.output()}`)
        for (const p of this.pending.values()) p.reject(err)
        this.pending.clear()
        resolve()
      })
    })
  }

  /** Start `script` as a child of this Node, tracked by `scope`; resolves once it says it is ready. */
  static async start (scope: ProcessScope, script: string, name: string, env: Record<string, string> = {}, timeoutMs = 30_000): Promise<Worker> {
    const child = fork(script, [], {
      execPath: process.execPath,
      execArgv: ['--no-warnings'],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, ...env }
    })
    scope.track(child)
    const worker = new Worker(name, child)
    const ready = new Promise<void>((resolve, reject) => {
      child.once('message', () => { resolve() })
      child.once('exit', (code, signal) => { reject(new Error(`${name} exited before it was ready (${code ?? signal}) ${worker.output()}`)) })
      child.once('error', reject)
    })
    await withTimeout(ready, timeoutMs, `${name} to start`)
    return worker
  }

  get pid (): number {
    return this.child.pid as number
  }

  /** The last lines the worker wrote, for error messages. */
  output (): string {
    const text = this.log.trim()
    return text === '' ? '' : `\n--- ${this.name} output ---\n${text.slice(-2000)}`
  }

  async call<T> (method: string, params: Record<string, unknown> = {}, timeoutMs = 60_000): Promise<T> {
    if (this.child.exitCode != null || this.child.signalCode != null || !this.child.connected) {
      throw new Error(`${this.name} is not running ${this.output()}`)
    }
    const id = this.nextId++
    const answer = new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
    })
    const request: WorkerRequest = { id, method, params }
    this.child.send(request)
    try {
      return await withTimeout(answer, timeoutMs, `${this.name}.${method}`)
    } finally {
      this.pending.delete(id)
    }
  }

  /** Ask the worker to stop cleanly; kill it if it does not within `timeoutMs`. */
  async stop (timeoutMs = 10_000): Promise<void> {
    if (this.child.exitCode != null || this.child.signalCode != null) return
    try {
      await this.call('stop', {}, timeoutMs)
    } catch {
      // killed below
    }
    await withTimeout(this.exited, 2000, `${this.name} to exit`).catch(() => {
      try { this.child.kill('SIGKILL') } catch {}
    })
  }
}
