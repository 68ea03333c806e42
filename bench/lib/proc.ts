/**
 * Child processes of the benchmark: every one is tracked so that it is
 * killed on exit or failure, and its CPU time and memory are read from
 * /proc (never from the process itself), so every system is measured alike.
 */
import { execFileSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import fs from 'node:fs'

const CLOCK_TICKS = ((): number => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 }).trim())
    return Number.isFinite(n) && n > 0 ? n : 100
  } catch {
    return 100
  }
})()

/** CPU seconds (user + system, all threads) used so far by `pid`. */
export function readCpuSeconds (pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  // the command name (field 2) may contain spaces and parentheses: split after the last ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (state); utime is field 14, stime field 15
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
}

export interface Memory {
  /** resident set size now, bytes */
  rss: number
  /** peak resident set size (VmHWM) since start or the last reset, bytes */
  hwm: number
}

export function readMemory (pid: number): Memory {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)
    return m == null ? 0 : Number(m[1]) * 1024
  }
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') }
}

/** Reset VmHWM of `pid` to its current RSS (Linux >= 4.0); false when not allowed. */
export function resetPeakRss (pid: number): boolean {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

export interface UsageWindow {
  /** CPU seconds used within the window */
  cpuSeconds: number
  /** peak RSS within the window (or since process start when the peak could not be reset), bytes */
  peakRss: number
  /** whether the peak covers only the window */
  peakIsWindowed: boolean
}

/**
 * Measures one process over a window: CPU seconds between start and stop,
 * peak RSS from VmHWM (reset at start) cross-checked by sampling VmRSS.
 */
export class ProcessMeter {
  readonly pid: number
  private readonly cpu0: number
  private readonly windowed: boolean
  private sampledPeak = 0
  private lastCpu: number
  private readonly timer: NodeJS.Timeout

  constructor (pid: number, sampleMs = 50) {
    this.pid = pid
    this.windowed = resetPeakRss(pid)
    this.cpu0 = readCpuSeconds(pid)
    this.lastCpu = this.cpu0
    this.sample()
    this.timer = setInterval(() => { this.sample() }, sampleMs)
    this.timer.unref()
  }

  private sample (): void {
    try {
      const m = readMemory(this.pid)
      this.sampledPeak = Math.max(this.sampledPeak, m.rss, this.windowed ? m.hwm : 0)
      this.lastCpu = readCpuSeconds(this.pid)
    } catch {
      // the process is gone: keep the last values, stop sampling
      clearInterval(this.timer)
    }
  }

  stop (): UsageWindow {
    clearInterval(this.timer)
    let hwm = 0
    try {
      hwm = readMemory(this.pid).hwm
      this.lastCpu = readCpuSeconds(this.pid)
    } catch {
      // gone
    }
    return {
      cpuSeconds: Math.max(0, this.lastCpu - this.cpu0),
      peakRss: Math.max(hwm, this.sampledPeak),
      peakIsWindowed: this.windowed
    }
  }
}

// ---- tracking and cleanup ----

/** A set of child processes that die together: one per measurement run, one for the whole program. */
export class ProcessScope {
  private readonly children = new Set<ChildProcess>()

  track (child: ChildProcess): ChildProcess {
    this.children.add(child)
    allChildren.add(child)
    child.once('exit', () => {
      this.children.delete(child)
      allChildren.delete(child)
    })
    return child
  }

  get size (): number {
    return this.children.size
  }

  /** SIGKILL every child still running and wait (bounded) for them to go. */
  async killAll (timeoutMs = 5000): Promise<void> {
    const alive = [...this.children].filter(c => c.exitCode == null && c.signalCode == null)
    await Promise.all(alive.map(async child => {
      const gone = new Promise<void>(resolve => child.once('exit', () => { resolve() }))
      try { child.kill('SIGKILL') } catch {}
      await Promise.race([gone, sleep(timeoutMs)])
    }))
  }
}

const allChildren = new Set<ChildProcess>()
const exitHooks: Array<() => void> = []

/** Run `hook` (synchronously) when the program ends, whatever the reason. */
export function onProgramExit (hook: () => void): void {
  exitHooks.push(hook)
}

function killEverythingNow (): void {
  for (const child of allChildren) {
    try { child.kill('SIGKILL') } catch {}
  }
  allChildren.clear()
  for (const hook of exitHooks.splice(0)) {
    try { hook() } catch {}
  }
}

let installed = false
/** Kill every tracked child (and run exit hooks) on exit, signals and uncaught errors. */
export function installExitHandlers (): void {
  if (installed) return
  installed = true
  process.on('exit', killEverythingNow)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}, killing child processes\n`)
      killEverythingNow()
      process.exit(130)
    })
  }
  process.on('uncaughtException', err => {
    process.stderr.write(`bench: uncaught: ${err.stack ?? String(err)}\n`)
    killEverythingNow()
    process.exit(1)
  })
  process.on('unhandledRejection', err => {
    process.stderr.write(`bench: unhandled rejection: ${(err as Error)?.stack ?? String(err)}\n`)
    killEverythingNow()
    process.exit(1)
  })
}

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/** Reject with `what` timed out after `ms`; the timer never keeps the process alive. */
export async function withTimeout<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`Timed out after ${Math.round(ms / 1000)} s: ${what}`)) }, ms)
    timer.unref()
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Poll `check` until it returns a value other than undefined, at most `timeoutMs`. */
export async function pollFor<T> (check: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs: number, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`Timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`)
    await sleep(intervalMs)
  }
}
