/**
 * Runs shoal as separate processes: the built binary when SHOAL_BIN is set
 * (CI's end-to-end step), else the sources under the runtime running the
 * tests (Node or Deno).
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import { waitFor } from './tmp.ts'
import { isDeno } from '../../src/platform/runtime.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')

export function shoalCommand (): string[] {
  if (process.env.SHOAL_BIN != null && process.env.SHOAL_BIN !== '') return [path.resolve(process.env.SHOAL_BIN)]
  const entry = path.join(ROOT, 'bin', 'shoal.ts')
  return isDeno ? [process.execPath, 'run', '-A', entry] : [process.execPath, entry]
}

export interface ShoalProcess {
  child: ChildProcess
  stdout(): string
  stderr(): string
  /** resolves with the exit code (or signal name) */
  exited: Promise<number | string>
}

export function spawnShoal (args: string[], env: Record<string, string> = {}, keepBytes = false): ShoalProcess & { bytes(): Buffer } {
  const [cmd, ...pre] = shoalCommand()
  const child = spawn(cmd, [...pre, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DENO_NO_UPDATE_CHECK: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  let err = ''
  const raw: Buffer[] = []
  child.stdout?.on('data', (c: Buffer) => {
    if (keepBytes) raw.push(c)
    else out += c.toString()
  })
  child.stderr?.on('data', (c: Buffer) => { err += c.toString() })
  // 'close', not 'exit': a process may exit before what it wrote to its pipes has all been read
  const exited = once(child, 'close').then(([code, signal]) => (code ?? signal) as number | string)
  return { child, stdout: () => out, stderr: () => err, bytes: () => Buffer.concat(raw), exited }
}

/**
 * Send a signal through process.kill, not child.kill: Deno's child_process
 * reports any child it kill()ed as ended by that signal, even when the child
 * caught it and exited 0.
 */
export function sendSignal (p: ShoalProcess, signal: NodeJS.Signals): void {
  process.kill(p.child.pid as number, signal)
}

export interface RunResult { code: number | string, stdout: string, stderr: string, bytes: Buffer }

/** Run a shoal command to completion, killing it after `timeoutMs`. */
export async function runShoal (args: string[], timeoutMs = 30_000, binary = false): Promise<RunResult> {
  const p = spawnShoal(args, {}, binary)
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs)
  try {
    const code = await p.exited
    return { code, stdout: p.stdout(), stderr: p.stderr(), bytes: p.bytes() }
  } finally {
    clearTimeout(timer)
  }
}

export interface DaemonReady { peerId: string, addresses: string[], rpc: string }

export interface StartedDaemon {
  proc: ShoalProcess
  ready: DaemonReady
  repo: string
}

/**
 * Start `shoal daemon` on `repo` (127.0.0.1, ports chosen by the OS, mDNS
 * off) and wait for its JSON ready line. The caller kills it.
 */
export async function startDaemonProcess (repo: string, options: { bootstrap?: string, env?: Record<string, string>, logLevel?: string, args?: string[] } = {}): Promise<StartedDaemon> {
  const args = ['daemon', '--repo', repo, '--listen', '/ip4/127.0.0.1/tcp/0', '--rpc', '127.0.0.1:0', '--no-mdns', '--json', '--log-level', options.logLevel ?? 'warn', ...(options.args ?? [])]
  if (options.bootstrap != null) args.push('--bootstrap', options.bootstrap)
  const proc = spawnShoal(args, options.env)
  let ready: DaemonReady | undefined
  try {
    await waitFor(() => {
      if (proc.child.exitCode != null) throw new Error(`the daemon on ${repo} exited: ${proc.stderr()}`)
      try { ready = JSON.parse(proc.stdout()) } catch { return false }
      return true
    }, `the daemon on ${repo} to be ready`, 30_000)
  } catch (err) {
    proc.child.kill('SIGKILL')
    throw err
  }
  return { proc, ready: ready as DaemonReady, repo }
}
