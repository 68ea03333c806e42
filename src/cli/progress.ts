/**
 * A one-line progress bar on stderr (bytes, rate, ETA), drawn only on a
 * terminal and never with --quiet; otherwise every call is a no-op.
 */
import type { CliIO } from './io.ts'

export interface Progress {
  update(bytes: number): void
  done(): void
}

const noop: Progress = { update: () => {}, done: () => {} }

export function formatBytes (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++ }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`
}

function formatDuration (s: number): string {
  if (!Number.isFinite(s)) return '--:--'
  const m = Math.floor(s / 60)
  return `${String(m).padStart(2, '0')}:${String(Math.floor(s % 60)).padStart(2, '0')}`
}

/** `extra` is drawn after the bar (e.g. the replication's progress), `label` may change as phases go. */
export function progressBar (io: CliIO, options: { label: string, total?: number, quiet?: boolean, now?: () => number, extra?: () => string }): Progress {
  if (!io.isTTY || options.quiet === true) return noop
  const now = options.now ?? (() => performance.now())
  const start = now()
  let last = 0
  let bytes = 0
  const draw = (final: boolean): void => {
    const t = now()
    if (!final && t - last < 100) return
    last = t
    const seconds = Math.max((t - start) / 1000, 1e-3)
    const rate = bytes / seconds
    let line = `${options.label} ${formatBytes(bytes)}`
    if (options.total != null && options.total > 0) {
      const frac = Math.min(bytes / options.total, 1)
      const width = 24
      const filled = Math.round(frac * width)
      line = `${options.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ` +
        `${formatBytes(bytes)}/${formatBytes(options.total)}`
      if (!final) line += ` ETA ${formatDuration((options.total - bytes) / Math.max(rate, 1))}`
    }
    line += ` ${formatBytes(rate)}/s`
    const extra = options.extra?.() ?? ''
    if (extra !== '') line += `, ${extra}`
    io.stderr(`\r\x1b[2K${line}${final ? '\n' : ''}`)
  }
  return {
    update: (n) => { bytes = n; draw(false) },
    done: () => { draw(true) }
  }
}
