/**
 * docs/benchmarks.md and its chart (an SVG drawn here, no chart library),
 * both made from the raw results alone, so `--report` can redo them from
 * bench/results/latest.json.
 */
import type { Machine } from './system.ts'
import type { MeasurementResult, MetricSpec } from './runner.ts'
import type { Summary } from './stats.ts'
import { COPIES } from '../measure/copies.ts'

export interface BenchResults {
  schema: 1
  mode: 'quick' | 'full'
  command: string
  startedAt: string
  finishedAt: string
  durationSeconds: number
  rounds: number
  fileSize: number
  largeSize: number
  dataSeconds: number
  /** os.loadavg() when the measurements began and ended: other work on the machine skews the numbers */
  loadAverage?: { start: number[], end: number[] }
  machine: Machine
  versions: Record<string, string>
  systems: Record<string, string>
  measurements: MeasurementResult[]
}

const MiB = 1024 * 1024
/** the median add of the last full run before the packed store (docs/benchmarks.md at d183b72) */
const ADD_BEFORE_PACKED = 108.8
const REFERENCE_SIZE = 256 * MiB
const LARGE_REFERENCE_SIZE = 2048 * MiB

// ---- looking things up ----

function find (r: BenchResults, id: string): MeasurementResult | undefined {
  return r.measurements.find(m => m.id === id)
}

function med (r: BenchResults, id: string, metric: string): number | undefined {
  return find(r, id)?.summary[metric]?.median
}

function fmt (v: number | undefined, digits = 1): string {
  if (v == null || !Number.isFinite(v)) return 'n/a'
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

function cell (m: MeasurementResult | undefined, spec: MetricSpec, withUnit = true): string {
  if (m == null) return ''
  if (m.status === 'unavailable') return 'not available yet'
  const s: Summary | undefined = m.summary[spec.name]
  if (s == null) return m.status === 'failed' ? 'failed' : 'n/a'
  const d = spec.digits ?? 1
  const unit = !withUnit ? '' : spec.unit === '' || spec.unit === '%' ? spec.unit : ' ' + spec.unit
  const main = `${fmt(s.median, d)}${unit}`
  return s.n > 1 ? `${main} (${fmt(s.min, d)}–${fmt(s.max, d)})` : main
}

function ratio (a: number | undefined, b: number | undefined): number | undefined {
  return a == null || b == null || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? undefined : a / b
}

function sizeLabel (bytes: number): string {
  return bytes >= 1024 * MiB && bytes % (1024 * MiB) === 0 ? `${bytes / 1024 / MiB} GiB` : `${fmt(bytes / MiB, 0)} MiB`
}

// ---- targets ----

interface Target {
  what: string
  shoal?: number
  helia?: number
  /** shown value, e.g. "2.1x" */
  show: (v: number | undefined) => string
  met: (v: number) => boolean
  note?: string
  /** the run was not at the size the target is about: the verdict is only indicative */
  offSize?: string
  unavailable: boolean
  /** a measurement the target needs failed in every run */
  failed?: boolean
}

function targets (r: BenchResults): Target[] {
  const sha = med(r, 'sha256', 'mbps')
  const raw = med(r, 'raw-stream', 'mbps')
  const addS = med(r, 'shoal-add', 'mbps')
  const addH = med(r, 'helia-add', 'mbps')
  const fetchS = med(r, 'shoal-fetch', 'mbps')
  const fetchH = med(r, 'helia-fetch', 'mbps')
  // shoal makes its copies by replicating an add (the issue's "adding with
  // k=3 on 5 nodes"); Helia, which cannot, by three nodes fetching at once
  const copiesS = med(r, 'shoal-replicate', 'seconds')
  const copiesH = med(r, 'helia-copies', 'seconds')
  const largeS = med(r, 'shoal-large', 'peakRss')
  const repairRatio = med(r, 'shoal-repair', 'ratio')
  const inSync = med(r, 'shoal-anti-entropy', 'inSyncBytes')
  const aeBlocks = med(r, 'shoal-anti-entropy', 'blocks')
  const floodRaise = med(r, 'shoal-frame-flood', 'raiseMB')
  const unavailable = (id: string): boolean => find(r, id)?.status === 'unavailable'
  const failed = (...ids: string[]): boolean => ids.some(id => find(r, id)?.status === 'failed')
  const times = (v: number | undefined): string => v == null ? 'n/a' : `${fmt(v, 2)}x`
  const pct = (v: number | undefined): string => v == null ? 'n/a' : `${fmt(100 * v, 0)}%`
  const copyLimit = 5 * r.fileSize / REFERENCE_SIZE
  return [
    { what: 'add ≥ 2x Helia', shoal: ratio(addS, addH), show: times, met: v => v >= 2, unavailable: unavailable('shoal-add'), failed: failed('shoal-add', 'helia-add') },
    {
      what: `add ≥ 2x the add before the packed store (${fmt(ADD_BEFORE_PACKED, 1)} MB/s, the full run of d183b72)`,
      shoal: addS == null ? undefined : addS / ADD_BEFORE_PACKED,
      show: times,
      met: v => v >= 2,
      unavailable: unavailable('shoal-add'),
      failed: failed('shoal-add')
    },
    { what: 'add ≥ 50% of the SHA-256 rate', shoal: ratio(addS, sha), helia: ratio(addH, sha), show: pct, met: v => v >= 0.5, unavailable: unavailable('shoal-add'), failed: failed('shoal-add', 'sha256') },
    { what: 'fetch ≥ 150 MB/s', shoal: fetchS, helia: fetchH, show: v => v == null ? 'n/a' : `${fmt(v)} MB/s`, met: v => v >= 150, unavailable: unavailable('shoal-fetch'), failed: failed('shoal-fetch') },
    { what: 'fetch ≥ 3.5x Helia', shoal: ratio(fetchS, fetchH), show: times, met: v => v >= 3.5, unavailable: unavailable('shoal-fetch'), failed: failed('shoal-fetch', 'helia-fetch') },
    { what: 'fetch ≥ 60% of the raw libp2p stream', shoal: ratio(fetchS, raw), helia: ratio(fetchH, raw), show: pct, met: v => v >= 0.6, unavailable: unavailable('shoal-fetch'), failed: failed('shoal-fetch', 'raw-stream') },
    {
      what: `${COPIES} copies of 256 MiB in < 5 s (shoal: an add with k=${COPIES} on 5 nodes; Helia: ${COPIES} nodes fetching at once)`,
      shoal: copiesS,
      helia: copiesH,
      show: v => v == null ? 'n/a' : `${fmt(v, 2)} s`,
      met: v => v < copyLimit,
      note: r.fileSize === REFERENCE_SIZE ? undefined : `this run used ${sizeLabel(r.fileSize)}: the limit is scaled to ${fmt(copyLimit, 2)} s`,
      unavailable: unavailable('shoal-replicate'),
      failed: failed('shoal-replicate')
    },
    {
      what: 'peak RSS < 300 MB for 2 GiB (add + fetch)',
      shoal: largeS,
      show: v => v == null ? 'n/a' : `${fmt(v)} MB`,
      met: v => v < 300,
      note: r.largeSize === LARGE_REFERENCE_SIZE ? undefined : `this run used ${sizeLabel(r.largeSize)}, not 2 GiB`,
      offSize: r.largeSize === LARGE_REFERENCE_SIZE ? undefined : sizeLabel(r.largeSize),
      unavailable: unavailable('shoal-large'),
      failed: failed('shoal-large')
    },
    {
      what: 'repair after a node dies copies at most what it held',
      shoal: repairRatio,
      show: v => v == null ? 'n/a' : `${fmt(v, 2)}x what it held`,
      met: v => v <= 1.05,
      unavailable: unavailable('shoal-repair'),
      failed: failed('shoal-repair')
    },
    {
      what: 'anti-entropy round when in sync ≤ 2 KB at 1 million blocks',
      shoal: inSync,
      show: v => v == null ? 'n/a' : `${fmt(v, 0)} B`,
      met: v => v <= 2048,
      note: aeBlocks == null || aeBlocks >= 1_000_000 ? undefined : `this run held ${fmt(aeBlocks, 0)} blocks`,
      offSize: aeBlocks == null || aeBlocks >= 1_000_000 ? undefined : `${fmt(aeBlocks, 0)} blocks`,
      unavailable: unavailable('shoal-anti-entropy'),
      failed: failed('shoal-anti-entropy')
    },
    {
      what: 'a flood of half-sent frames from 11 peers raises RSS by < 150 MB',
      shoal: floodRaise,
      show: v => v == null ? 'n/a' : `${fmt(v)} MB`,
      met: v => v < 150,
      unavailable: unavailable('shoal-frame-flood'),
      failed: failed('shoal-frame-flood')
    }
  ]
}

// ---- Markdown ----

export function renderMarkdown (r: BenchResults, chartFile: string): string {
  const L: string[] = []
  const quick = r.mode === 'quick'
  L.push('# Benchmarks: shoal side by side with Helia')
  L.push('')
  L.push(`Generated by \`${r.command}\` (bench/run.ts) on ${r.finishedAt.slice(0, 10)}; do not edit by hand. Raw results: \`bench/results/latest.json\` (not committed).`)
  L.push('')
  if (quick) {
    L.push(`> **Quick run**: ${r.rounds} run of each measurement on ${sizeLabel(r.fileSize)}, a smoke test of the harness. The reference numbers come from \`npm run bench\` (at least 5 runs each on 256 MiB).`)
    L.push('')
  }
  L.push(`${r.rounds === 1 ? 'One run' : `${r.rounds} runs`} of each measurement on a ${sizeLabel(r.fileSize)} file of random bytes (AES-256-CTR keystream, the same bytes every time), shoal and Helia alternating and taking turns going first; the whole benchmark took ${fmt(r.durationSeconds / 60, 1)} min. Cells show the median${r.rounds > 1 ? ' (min–max)' : ''}. MB = 10^6 bytes. Every node is a separate OS process on 127.0.0.1; CPU seconds (user + system) and peak RSS (VmHWM, reset at the start of the measured window) are read from /proc.`)
  L.push('')

  L.push('## Machine and versions')
  L.push('')
  L.push('| | |')
  L.push('| --- | --- |')
  L.push(`| CPU | ${r.machine.cpu} |`)
  L.push(`| cores | ${r.machine.cores} |`)
  L.push(`| RAM | ${r.machine.ramGiB} GiB |`)
  L.push(`| kernel | ${r.machine.kernel} (${r.machine.arch}) |`)
  L.push(`| OS | ${r.machine.os} |`)
  if (r.loadAverage != null) L.push(`| load average (1, 5, 15 min) | ${r.loadAverage.start.map(v => fmt(v, 2)).join(', ')} at the start, ${r.loadAverage.end.map(v => fmt(v, 2)).join(', ')} at the end |`)
  for (const [name, version] of Object.entries(r.versions)) L.push(`| ${name} | ${version} |`)
  L.push('')

  L.push('## Targets')
  L.push('')
  L.push('| target | shoal | met? | Helia, for comparison |')
  L.push('| --- | --- | --- | --- |')
  for (const t of targets(r)) {
    let verdict = t.unavailable ? 'not available yet' : t.shoal == null ? (t.failed ? '**failed**' : 'n/a') : t.met(t.shoal) ? '**met**' : '**not met**'
    if (t.offSize != null && t.shoal != null && !t.unavailable) verdict = `${verdict.replace(/\*/g, '')} at ${t.offSize} only`
    const shoalCell = t.unavailable ? 'not available yet' : t.shoal == null && t.failed ? 'failed' : t.show(t.shoal)
    L.push(`| ${t.what}${t.note != null ? ` (${t.note})` : ''} | ${shoalCell} | ${verdict} | ${t.helia != null ? t.show(t.helia) : ''} |`)
  }
  L.push('')
  L.push(`![Throughput in MB/s, median with min–max whiskers; dashed: shoal's target](${chartFile})`)
  L.push('')

  L.push('## Reference rates (same run)')
  L.push('')
  L.push('| measurement | result |')
  L.push('| --- | --- |')
  for (const id of ['sha256', 'raw-stream']) {
    const m = find(r, id)
    if (m == null) continue
    for (const spec of m.metrics) L.push(`| ${m.title}: ${spec.label} | ${cell(m, spec)} |`)
  }
  L.push('')
  for (const id of ['sha256', 'raw-stream']) {
    const m = find(r, id)
    if (m != null) L.push(`- ${m.title}: ${m.description}${statusNote(m)}`)
  }
  L.push('')

  for (const [group, heading] of [['add', 'Add'], ['fetch', 'Fetch by a second node'], ['copies', `${COPIES} copies at once`]] as const) {
    const s = find(r, `shoal-${group}`)
    const h = find(r, `helia-${group}`)
    const any = s ?? h
    if (any == null) continue
    L.push(`## ${heading}`)
    L.push('')
    L.push('| metric | shoal | Helia | shoal ÷ Helia |')
    L.push('| --- | --- | --- | --- |')
    for (const spec of any.metrics) {
      const q = ratio(s?.summary[spec.name]?.median, h?.summary[spec.name]?.median)
      L.push(`| ${spec.label}${spec.unit !== '' ? ` (${spec.unit})` : ''} | ${cell(s, spec, false)} | ${cell(h, spec, false)} | ${q == null ? '' : `${fmt(q, 2)}x`} |`)
    }
    L.push('')
    L.push(any.description)
    for (const m of [s, h]) if (m != null && statusNote(m) !== '') L.push(`${m.title}${statusNote(m)}`)
    L.push('')
  }

  // the flat-vs-packed A/B: the same measurements with `"blockstore": "flat"`
  for (const group of ['add', 'fetch']) {
    const packed = find(r, `shoal-${group}`)
    const flat = find(r, `shoal-${group}-flat`)
    if (packed == null || flat == null) continue
    L.push(`## ${group === 'add' ? 'Add' : 'Fetch'}: packed store against flat store (shoal A/B)`)
    L.push('')
    L.push('| metric | packed (the default) | flat | packed ÷ flat |')
    L.push('| --- | --- | --- | --- |')
    for (const spec of packed.metrics) {
      const q = ratio(packed.summary[spec.name]?.median, flat.summary[spec.name]?.median)
      L.push(`| ${spec.label}${spec.unit !== '' ? ` (${spec.unit})` : ''} | ${cell(packed, spec, false)} | ${cell(flat, spec, false)} | ${q == null ? '' : `${fmt(q, 2)}x`} |`)
    }
    L.push('')
    L.push(flat.description)
    if (statusNote(flat) !== '') L.push(`${flat.title}${statusNote(flat)}`)
    L.push('')
  }

  for (const id of ['shoal-replicate', 'shoal-large', 'shoal-lookup', 'shoal-repair', 'shoal-anti-entropy', 'shoal-frame-flood', 'shoal-compaction']) {
    const m = find(r, id)
    if (m == null) continue
    L.push(`## ${m.title}`)
    L.push('')
    L.push('| metric | shoal |')
    L.push('| --- | --- |')
    for (const spec of m.metrics) L.push(`| ${spec.label}${spec.unit !== '' ? ` (${spec.unit})` : ''} | ${cell(m, spec, false)} |`)
    L.push('')
    L.push(m.description + (id === 'shoal-large' ? ` Size in this run: ${sizeLabel(r.largeSize)}.` : ''))
    if (statusNote(m) !== '') L.push(`${m.title}${statusNote(m)}`)
    L.push('')
  }

  L.push('## How each system was run')
  L.push('')
  for (const [name, notes] of Object.entries(r.systems)) L.push(`- **${name}**: ${notes}`)
  L.push('')
  const cids = cidCheck(r)
  if (cids !== '') {
    L.push(cids)
    L.push('')
  }
  L.push('Run it: `npm run bench` (5 runs, 256 MiB, 2 GiB for the large file; about 10 minutes on 2 cores), `npm run bench -- --quick` (1 run, 32 MiB, under 2 minutes), `--runs N`, `--size MiB`, `--large-size MiB`, `--only id,id`, `--report` (redo this page from bench/results/latest.json).')
  L.push('')
  return L.join('\n')
}

function statusNote (m: MeasurementResult): string {
  if (m.status === 'unavailable') return `: not available yet (${m.reason ?? ''}).`
  if (m.status === 'failed') return `: **failed**: ${(m.reason ?? '').split('\n')[0]}`
  if (m.status === 'partial') return `: ${m.runs.filter(r => !r.ok).length} of ${m.runs.length} runs failed (the numbers are from the others): ${(m.reason ?? '').split('\n')[0]}`
  return ''
}

/** The same file with the same settings must give the same CID on both systems. */
function cidCheck (r: BenchResults): string {
  const bySystem = new Map<string, Set<string>>()
  for (const m of r.measurements) {
    if (!['add', 'fetch', 'copies', 'replicate'].includes(m.group)) continue
    for (const run of m.runs) {
      const cid = run.info?.cid
      if (typeof cid !== 'string') continue
      bySystem.set(m.system, (bySystem.get(m.system) ?? new Set()).add(cid))
    }
  }
  if (bySystem.size === 0) return ''
  const all = new Set([...bySystem.values()].flatMap(s => [...s]))
  const list = [...bySystem.entries()].map(([sys, s]) => `${sys} ${[...s].map(c => `\`${c}\``).join(', ')}`).join('; ')
  return all.size === 1
    ? `Every add of the ${sizeLabel(r.fileSize)} file gave the same CID (${list}).`
    : `**The CIDs differ** between runs or systems: ${list}.`
}

// ---- the chart ----

interface Bar {
  label: string
  kind: 'reference' | 'shoal' | 'helia'
  summary?: Summary
  missing?: string
  target?: number
  /** may be longer than the axis: then drawn cut */
  cut?: boolean
}

const COLORS = { reference: '#8a8f98', shoal: '#1f6feb', helia: '#e36209' }

export function renderSvg (r: BenchResults): string {
  const sum = (id: string, metric: string): Summary | undefined => find(r, id)?.summary[metric]
  const missing = (id: string): string | undefined => {
    const m = find(r, id)
    if (m == null) return 'not run'
    if (m.status === 'unavailable') return 'not available yet'
    if (m.summary.mbps == null && m.summary.aggregateMbps == null) return 'failed'
    return undefined
  }
  /** a summary of a rate times a positive factor (every statistic scales alike) */
  const scaled = (s: Summary | undefined, f: number): Summary | undefined =>
    s == null ? undefined : { n: s.n, median: s.median * f, min: s.min * f, max: s.max * f, q1: s.q1 * f, q3: s.q3 * f }
  const sha = med(r, 'sha256', 'mbps')
  const raw = med(r, 'raw-stream', 'mbps')
  const addH = med(r, 'helia-add', 'mbps')
  const fetchH = med(r, 'helia-fetch', 'mbps')
  const maxOf = (...xs: Array<number | undefined>): number | undefined => {
    const v = xs.filter((x): x is number => x != null && Number.isFinite(x))
    return v.length === 0 ? undefined : Math.max(...v)
  }
  const groups: Array<{ title: string, bars: Bar[] }> = [
    {
      title: 'reference (same run)',
      bars: [
        { label: 'SHA-256, 1 core', kind: 'reference', summary: sum('sha256', 'mbps'), missing: missing('sha256'), cut: true },
        { label: 'raw libp2p stream', kind: 'reference', summary: sum('raw-stream', 'mbps'), missing: missing('raw-stream') }
      ]
    },
    {
      title: 'add',
      bars: [
        { label: 'shoal', kind: 'shoal', summary: sum('shoal-add', 'mbps'), missing: missing('shoal-add'), target: maxOf(addH != null ? 3 * addH : undefined, sha != null ? 0.5 * sha : undefined) },
        { label: 'Helia', kind: 'helia', summary: sum('helia-add', 'mbps'), missing: missing('helia-add') }
      ]
    },
    {
      title: 'fetch by a second node',
      bars: [
        { label: 'shoal', kind: 'shoal', summary: sum('shoal-fetch', 'mbps'), missing: missing('shoal-fetch'), target: maxOf(150, fetchH != null ? 3.5 * fetchH : undefined, raw != null ? 0.6 * raw : undefined) },
        { label: 'Helia', kind: 'helia', summary: sum('helia-fetch', 'mbps'), missing: missing('helia-fetch') }
      ]
    },
    {
      // the target is shoal's replicated add (its rate x COPIES, like the fetchers' aggregate)
      title: `${COPIES} copies (aggregate)`,
      bars: [
        { label: `shoal, add k=${COPIES}`, kind: 'shoal', summary: scaled(sum('shoal-replicate', 'mbps'), COPIES), missing: missing('shoal-replicate'), target: COPIES * REFERENCE_SIZE / 1e6 / 5 },
        { label: `shoal, ${COPIES} fetchers`, kind: 'shoal', summary: sum('shoal-copies', 'aggregateMbps'), missing: missing('shoal-copies') },
        { label: `Helia, ${COPIES} fetchers`, kind: 'helia', summary: sum('helia-copies', 'aggregateMbps'), missing: missing('helia-copies') }
      ]
    }
  ]

  const width = 760
  const left = 170
  const right = 110
  const plot = width - left - right
  const rowH = 24
  const groupGap = 30
  const top = 46
  // the SHA-256 rate is far above everything else: it does not set the scale, its bar is cut
  let maxValue = 1
  for (const g of groups) {
    for (const b of g.bars) if (!b.cut) maxValue = Math.max(maxValue, b.summary?.max ?? 0, b.target ?? 0)
  }
  const step = niceStep(maxValue / 5)
  const axisMax = Math.ceil(maxValue * 1.05 / step) * step
  const x = (v: number): number => left + Math.min(v, axisMax) / axisMax * plot
  const rows = groups.reduce((n, g) => n + g.bars.length, 0)
  const height = top + rows * rowH + groups.length * (groupGap - 8) + 36

  const out: string[] = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="12">`)
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`)
  out.push(`<text x="${left}" y="20" font-size="14" font-weight="600" fill="#1f2328">Throughput, MB/s (${sizeLabel(r.fileSize)}, median of ${r.rounds}${r.rounds > 1 ? ', whiskers min–max' : ''})</text>`)
  out.push(`<text x="${left}" y="36" fill="#59636e">dashed line: shoal's target; ${r.machine.cores} cores, ${escapeXml(r.machine.cpu)}</text>`)

  const plotBottom = height - 30
  for (let v = 0; v <= axisMax + 1e-9; v += step) {
    out.push(`<line x1="${x(v).toFixed(1)}" y1="${top}" x2="${x(v).toFixed(1)}" y2="${plotBottom}" stroke="#e6e8eb"/>`)
    out.push(`<text x="${x(v).toFixed(1)}" y="${plotBottom + 16}" text-anchor="middle" fill="#59636e">${fmt(v, 0)}</text>`)
  }

  let y = top
  for (const g of groups) {
    y += groupGap - 8
    out.push(`<text x="8" y="${y - 6}" font-weight="600" fill="#1f2328">${escapeXml(g.title)}</text>`)
    for (const b of g.bars) {
      const cy = y + rowH / 2
      out.push(`<text x="${left - 8}" y="${cy + 4}" text-anchor="end" fill="#1f2328">${escapeXml(b.label)}</text>`)
      const s = b.summary
      if (s == null || b.missing != null) {
        out.push(`<text x="${(b.target != null ? x(b.target) + 8 : left + 6).toFixed(1)}" y="${cy + 4}" font-style="italic" fill="#8a8f98">${escapeXml(b.missing ?? 'n/a')}</text>`)
      } else if (s.min > axisMax) {
        // cut bar: to the end of the axis, with a break mark
        const end = x(axisMax)
        out.push(`<rect x="${left}" y="${y + 4}" width="${(end - left).toFixed(1)}" height="${rowH - 8}" rx="2" fill="${COLORS[b.kind]}"/>`)
        out.push(`<path d="M${(end - 24).toFixed(1)} ${y + 2} l6 ${rowH - 4} M${(end - 17).toFixed(1)} ${y + 2} l6 ${rowH - 4}" stroke="#ffffff" stroke-width="3"/>`)
        out.push(`<text x="${(end + 6).toFixed(1)}" y="${cy + 4}" fill="#1f2328">${fmt(s.median)}</text>`)
      } else {
        const w = Math.max(1, x(s.median) - left)
        out.push(`<rect x="${left}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" rx="2" fill="${COLORS[b.kind]}"/>`)
        if (s.n > 1) {
          out.push(`<line x1="${x(s.min).toFixed(1)}" y1="${cy}" x2="${x(s.max).toFixed(1)}" y2="${cy}" stroke="#1f2328" stroke-width="1"/>`)
          for (const v of [s.min, s.max]) out.push(`<line x1="${x(v).toFixed(1)}" y1="${cy - 5}" x2="${x(v).toFixed(1)}" y2="${cy + 5}" stroke="#1f2328" stroke-width="1"/>`)
        }
        // the value right of the bar, or right of the target line when that would cross it
        let labelX = x(s.max) + 6
        if (b.target != null && x(b.target) >= labelX - 8 && x(b.target) <= labelX + 56) labelX = x(b.target) + 6
        out.push(`<text x="${labelX.toFixed(1)}" y="${cy + 4}" fill="#1f2328">${fmt(s.median)}</text>`)
      }
      if (b.target != null) {
        out.push(`<line x1="${x(b.target).toFixed(1)}" y1="${y + 1}" x2="${x(b.target).toFixed(1)}" y2="${y + rowH - 1}" stroke="#cf222e" stroke-width="2" stroke-dasharray="4 2"/>`)
      }
      y += rowH
    }
  }
  out.push('</svg>')
  return out.join('\n') + '\n'
}

function niceStep (raw: number): number {
  const pow = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * pow >= raw) return m * pow
  return 10 * pow
}

function escapeXml (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}
