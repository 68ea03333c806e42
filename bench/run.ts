/**
 * `npm run bench`: shoal side by side with Helia, in one run.
 *
 *   node bench/run.ts            5 runs of each, 256 MiB file, 2 GiB for the large-file test
 *   node bench/run.ts --quick    1 run of each, 32 MiB (a smoke test, under 2 minutes)
 *   --runs N  --size MiB  --large-size MiB  --only id,id  --no-docs  --report
 *
 * Writes bench/results/latest.json (raw) and docs/benchmarks.md + docs/benchmarks.svg.
 * Measurements of shoal that its daemon cannot do yet are reported as "not
 * available yet". Every child process is killed on exit, failure or signal.
 */
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { addMeasurement } from './measure/add.ts'
import { copiesMeasurement } from './measure/copies.ts'
import { fetchMeasurement } from './measure/fetch.ts'
import { rawStream } from './measure/raw-stream.ts'
import { sha256Rate } from './measure/sha256.ts'
import { shoalLarge } from './measure/shoal-large.ts'
import { shoalReplicate } from './measure/shoal-replicate.ts'
import { shoalLookup } from './measure/shoal-lookup.ts'
import { shoalRepair } from './measure/shoal-repair.ts'
import { shoalAntiEntropy } from './measure/shoal-anti-entropy.ts'
import { shoalFrameFlood } from './measure/shoal-frame-flood.ts'
import { shoalCompaction } from './measure/shoal-compaction.ts'
import { writeRandomFile } from './lib/data.ts'
import { helia } from './lib/helia-peer.ts'
import { installExitHandlers, onProgramExit } from './lib/proc.ts'
import { renderMarkdown, renderSvg } from './lib/report.ts'
import type { BenchResults } from './lib/report.ts'
import { runAll } from './lib/runner.ts'
import type { Measurement } from './lib/runner.ts'
import { shoal, shoalFlat } from './lib/shoal-peer.ts'
import { machine, versions } from './lib/system.ts'

const ROOT = path.resolve(import.meta.dirname, '..')
const RESULTS_DIR = path.join(ROOT, 'bench', 'results')
const DOC = path.join(ROOT, 'docs', 'benchmarks.md')
const CHART = path.join(ROOT, 'docs', 'benchmarks.svg')
const MiB = 1024 * 1024

export const MEASUREMENTS: Measurement[] = [
  sha256Rate,
  rawStream,
  addMeasurement(shoal),
  addMeasurement(helia),
  addMeasurement(shoalFlat),
  fetchMeasurement(shoal),
  fetchMeasurement(helia),
  fetchMeasurement(shoalFlat),
  copiesMeasurement(shoal),
  copiesMeasurement(helia),
  shoalReplicate,
  shoalLarge,
  shoalLookup,
  shoalRepair,
  shoalAntiEntropy,
  shoalFrameFlood,
  shoalCompaction
]

const started = Date.now()
function log (message: string): void {
  process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${message}\n`)
}

const ANALYSIS = path.join(ROOT, 'bench', 'analysis.md')

async function writeDocs (results: BenchResults): Promise<void> {
  await fsp.writeFile(CHART, renderSvg(results))
  // the profile-backed analysis of missed targets is written by hand, kept
  // beside the harness, and appended to every generated page
  const analysis = await fsp.readFile(ANALYSIS, 'utf8').catch(() => '')
  await fsp.writeFile(DOC, renderMarkdown(results, path.basename(CHART)) + (analysis === '' ? '' : `\n${analysis}`))
  log(`wrote ${path.relative(ROOT, DOC)} and ${path.relative(ROOT, CHART)}`)
}

async function main (): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      size: { type: 'string' },
      'large-size': { type: 'string' },
      only: { type: 'string' },
      'no-docs': { type: 'boolean', default: false },
      report: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false }
    },
    allowPositionals: false
  })
  if (values.help === true) {
    process.stdout.write(`usage: node bench/run.ts [--quick] [--runs N] [--size MiB] [--large-size MiB] [--only ${MEASUREMENTS.map(m => m.id).join(',')}] [--no-docs] [--report]\n`)
    return 0
  }
  if (values.report === true) {
    const results = JSON.parse(await fsp.readFile(path.join(RESULTS_DIR, 'latest.json'), 'utf8')) as BenchResults
    await writeDocs(results)
    return 0
  }

  const quick = values.quick === true
  const positiveInt = (v: string | undefined, fallback: number, what: string): number => {
    if (v == null) return fallback
    const n = Number(v)
    if (!Number.isInteger(n) || n < 1) throw new Error(`${what} must be a positive integer, not "${v}"`)
    return n
  }
  const rounds = positiveInt(values.runs, quick ? 1 : 5, '--runs')
  const fileSize = positiveInt(values.size, quick ? 32 : 256, '--size') * MiB
  const largeSize = positiveInt(values['large-size'], quick ? 128 : 2048, '--large-size') * MiB
  let measurements = MEASUREMENTS
  if (values.only != null) {
    // a measurement's id, or a group's name (--only repair)
    const ids = values.only.split(',').map(s => s.trim())
    const unknown = ids.filter(id => !MEASUREMENTS.some(m => m.id === id || m.group === id))
    if (unknown.length > 0) throw new Error(`unknown measurement ${unknown.join(', ')}; known: ${MEASUREMENTS.map(m => m.id).join(', ')}, or a group: ${[...new Set(MEASUREMENTS.map(m => m.group))].join(', ')}`)
    measurements = MEASUREMENTS.filter(m => ids.includes(m.id) || ids.includes(m.group))
  }
  const command = `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`

  installExitHandlers()
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'shoal-bench-'))
  onProgramExit(() => { fs.rmSync(tmp, { recursive: true, force: true }) })
  log(`${quick ? 'quick run' : 'full run'}: ${rounds} round(s), ${fileSize / MiB} MiB file, temp dir ${tmp}`)

  const dataFile = path.join(tmp, 'data.bin')
  const dataSeconds = await writeRandomFile(dataFile, fileSize, 'main')
  log(`wrote ${fileSize / MiB} MiB of random data in ${dataSeconds.toFixed(2)} s`)
  let large: Promise<string> | undefined
  let dirs = 0

  const startedAt = new Date()
  const loadAtStart = os.loadavg()
  const measured = await runAll(measurements, {
    rounds,
    tmpDir: tmp,
    log,
    base: {
      quick,
      fileSize,
      dataFile,
      largeSize,
      root: ROOT,
      largeFile: async () => {
        large ??= (async () => {
          const file = path.join(tmp, 'large.bin')
          const s = await writeRandomFile(file, largeSize, 'large')
          log(`wrote the ${largeSize / MiB} MiB large file in ${s.toFixed(1)} s`)
          return file
        })()
        return await large
      },
      newDir: async (prefix: string) => {
        const dir = path.join(tmp, `run-${prefix}-${++dirs}`)
        await fsp.mkdir(dir, { recursive: true })
        return dir
      }
    }
  })

  const finishedAt = new Date()
  const results: BenchResults = {
    schema: 1,
    mode: quick ? 'quick' : 'full',
    command,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationSeconds: (Date.now() - started) / 1000,
    rounds,
    fileSize,
    largeSize,
    dataSeconds,
    loadAverage: { start: loadAtStart, end: os.loadavg() },
    machine: machine(),
    versions: versions(ROOT),
    systems: { shoal: shoal.notes, 'shoal, flat store': shoalFlat.notes, Helia: helia.notes },
    measurements: measured
  }
  await fsp.mkdir(RESULTS_DIR, { recursive: true })
  const json = JSON.stringify(results, null, 2) + '\n'
  await fsp.writeFile(path.join(RESULTS_DIR, 'latest.json'), json)
  await fsp.writeFile(path.join(RESULTS_DIR, `${results.mode}-${finishedAt.toISOString().replace(/[:.]/g, '-')}.json`), json)
  log(`wrote ${path.relative(ROOT, path.join(RESULTS_DIR, 'latest.json'))}`)
  if (values['no-docs'] === true || values.only != null) log('docs/benchmarks.md left as it was (--no-docs or --only)')
  else await writeDocs(results)

  await fsp.rm(tmp, { recursive: true, force: true })
  // a measurement with no successful run fails the benchmark; one with some is reported as it is
  const bad = measured.filter(m => m.status === 'failed')
  for (const m of measured) log(`${m.id.padEnd(Math.max(...measured.map(x => x.id.length)))} ${m.status}${m.reason != null ? ': ' + m.reason.split('\n')[0].slice(0, 160) : ''}`)
  log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  return bad.length > 0 ? 1 : 0
}

// exit explicitly: the exit handlers kill any child left and remove the temp dir
main().then(code => process.exit(code), err => {
  log(`bench failed: ${(err as Error).stack ?? String(err)}`)
  process.exit(1)
})
