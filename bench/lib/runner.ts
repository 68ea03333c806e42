/**
 * The common runner: every measurement is a module exporting a
 * `Measurement`; the runner checks whether it can run here and now, runs it
 * the requested number of times (shoal and Helia alternating, so slow drift of
 * the machine hits both alike), bounds each run by a deadline, kills whatever
 * processes a run leaves behind, and summarizes the runs.
 */
import fs from 'node:fs/promises'
import path from 'node:path'
import { ProcessScope, withTimeout } from './proc.ts'
import { summarize } from './stats.ts'
import type { Summary } from './stats.ts'

export type System = 'shoal' | 'helia' | 'reference'
export type Group = 'reference' | 'add' | 'fetch' | 'copies' | 'replicate' | 'large' | 'lookup' | 'repair' | 'limits'

export interface MetricSpec {
  name: string
  label: string
  unit: string
  /** decimals shown in the report */
  digits?: number
}

export interface BenchContext {
  quick: boolean
  /** bytes in the main test file */
  fileSize: number
  /** the main test file (deterministic random bytes) */
  dataFile: string
  /** bytes in the large-file test */
  largeSize: number
  /** the large file, written on first use */
  largeFile(): Promise<string>
  /** a fresh directory under the run's temp dir */
  newDir(prefix: string): Promise<string>
  /** repository root */
  root: string
  /** child processes of the current measurement run: all killed after it */
  scope: ProcessScope
  /** aborted when the current run's deadline passes */
  signal: AbortSignal
  /** 0-based index of the round */
  round: number
  log(message: string): void
}

export interface RunOutput {
  metrics: Record<string, number>
  /** non-numeric facts of the run, e.g. the CID */
  info?: Record<string, string | number | boolean>
}

export type Availability = { available: true } | { available: false, reason: string }

export interface Measurement {
  id: string
  title: string
  system: System
  group: Group
  /** 'round': once per round (the medians need several); 'once': a single run whatever the round count */
  repeat: 'round' | 'once'
  metrics: MetricSpec[]
  /** what the numbers mean, printed under the table */
  description: string
  /** decided once, before the first run */
  availability?(ctx: BenchContext): Promise<Availability>
  /** the deadline of one run */
  timeoutMs(ctx: BenchContext): number
  run(ctx: BenchContext): Promise<RunOutput>
}

export interface RunRecord {
  round: number
  ok: boolean
  seconds: number
  metrics: Record<string, number>
  info?: Record<string, string | number | boolean>
  error?: string
}

export interface MeasurementResult {
  id: string
  title: string
  system: System
  group: Group
  description: string
  metrics: MetricSpec[]
  status: 'ok' | 'failed' | 'partial' | 'unavailable'
  reason?: string
  runs: RunRecord[]
  summary: Record<string, Summary>
}

export interface RunnerOptions {
  rounds: number
  base: Omit<BenchContext, 'scope' | 'signal' | 'round' | 'log'>
  tmpDir: string
  log(message: string): void
}

/** Run every measurement; never throws for a measurement's failure (it is recorded). */
export async function runAll (measurements: Measurement[], options: RunnerOptions): Promise<MeasurementResult[]> {
  const results = new Map<string, MeasurementResult>()
  const contextFor = (round: number, m: Measurement, scope: ProcessScope, signal: AbortSignal): BenchContext => ({
    ...options.base,
    scope,
    signal,
    round,
    log: (msg: string) => { options.log(`  [${m.id}] ${msg}`) }
  })

  for (const m of measurements) {
    const result: MeasurementResult = {
      id: m.id, title: m.title, system: m.system, group: m.group, description: m.description, metrics: m.metrics,
      status: 'ok', runs: [], summary: {}
    }
    results.set(m.id, result)
    if (m.availability == null) continue
    const scope = new ProcessScope()
    const controller = new AbortController()
    try {
      const a = await withTimeout(m.availability(contextFor(0, m, scope, controller.signal)), 120_000, `${m.id}: availability check`)
      if (!a.available) {
        result.status = 'unavailable'
        result.reason = a.reason
        options.log(`${m.id}: not available yet (${a.reason})`)
      }
    } catch (err) {
      result.status = 'unavailable'
      result.reason = `availability check failed: ${firstLine(err)}`
      options.log(`${m.id}: ${result.reason}`)
    } finally {
      controller.abort()
      await scope.killAll()
    }
  }

  for (let round = 0; round < options.rounds; round++) {
    options.log(`round ${round + 1} of ${options.rounds}`)
    // alternate which system goes first within each group
    const order = alternate(measurements.filter(m => m.repeat === 'round' || round === 0), round)
    for (const m of order) {
      const result = results.get(m.id) as MeasurementResult
      if (result.status === 'unavailable') continue
      result.runs.push(await runOnce(m, contextFor, round, options))
    }
  }

  for (const result of results.values()) {
    if (result.status === 'unavailable') continue
    const ok = result.runs.filter(r => r.ok)
    result.status = ok.length === result.runs.length ? 'ok' : ok.length === 0 ? 'failed' : 'partial'
    if (ok.length < result.runs.length) result.reason = result.runs.find(r => !r.ok)?.error
    for (const spec of result.metrics) {
      const s = summarize(ok.map(r => r.metrics[spec.name]).filter(v => v !== undefined))
      if (s != null) result.summary[spec.name] = s
    }
  }
  return [...results.values()]
}

async function runOnce (
  m: Measurement,
  contextFor: (round: number, m: Measurement, scope: ProcessScope, signal: AbortSignal) => BenchContext,
  round: number,
  options: RunnerOptions
): Promise<RunRecord> {
  const scope = new ProcessScope()
  const controller = new AbortController()
  const ctx = contextFor(round, m, scope, controller.signal)
  const started = performance.now()
  const timeoutMs = m.timeoutMs(ctx)
  options.log(`${m.id} ...`)
  try {
    const out = await withTimeout(m.run(ctx), timeoutMs, m.id)
    const seconds = (performance.now() - started) / 1000
    options.log(`${m.id}: ${formatMetrics(m, out.metrics)} (${seconds.toFixed(1)} s)`)
    return { round, ok: true, seconds, metrics: out.metrics, info: out.info }
  } catch (err) {
    const seconds = (performance.now() - started) / 1000
    const message = (err as Error)?.message ?? String(err)
    options.log(`${m.id}: FAILED after ${seconds.toFixed(1)} s: ${message}`)
    return { round, ok: false, seconds, metrics: {}, error: message.slice(0, 4000) }
  } finally {
    controller.abort()
    await scope.killAll()
    // what a run wrote under the temp dir is not needed by the next one
    await removeRunDirs(options.tmpDir)
  }
}

/** Shoal and Helia of one group alternate who goes first from round to round. */
function alternate (measurements: Measurement[], round: number): Measurement[] {
  if (round % 2 === 0) return measurements
  const out: Measurement[] = []
  const byGroup = new Map<Group, Measurement[]>()
  for (const m of measurements) byGroup.set(m.group, [...(byGroup.get(m.group) ?? []), m])
  for (const [, group] of byGroup) out.push(...[...group].reverse())
  return out
}

function formatMetrics (m: Measurement, metrics: Record<string, number>): string {
  return m.metrics
    .filter(s => metrics[s.name] !== undefined)
    .map(s => `${s.label} ${metrics[s.name].toFixed(s.digits ?? 1)}${s.unit === '' ? '' : ' ' + s.unit}`)
    .join(', ')
}

export function firstLine (err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0]
}

/** Run directories are made by `newDir` with a `run-` prefix; data files stay. */
async function removeRunDirs (tmpDir: string): Promise<void> {
  for (const name of await fs.readdir(tmpDir).catch(() => [] as string[])) {
    if (name.startsWith('run-')) await fs.rm(path.join(tmpDir, name), { recursive: true, force: true }).catch(() => {})
  }
}
