/** Order statistics for repeated runs. */

export interface Summary {
  n: number
  median: number
  min: number
  max: number
  /** first and third quartiles (linear interpolation) */
  q1: number
  q3: number
}

export function quantile (sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN
  const pos = (sorted.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo)
}

export function summarize (values: number[]): Summary | undefined {
  const sorted = values.filter(v => Number.isFinite(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return undefined
  return {
    n: sorted.length,
    median: quantile(sorted, 0.5),
    min: sorted[0],
    max: sorted[sorted.length - 1],
    q1: quantile(sorted, 0.25),
    q3: quantile(sorted, 0.75)
  }
}

export function median (values: number[]): number {
  return summarize(values)?.median ?? NaN
}

/** Megabytes (10^6 bytes) per second. */
export function mbps (bytes: number, seconds: number): number {
  return seconds > 0 ? bytes / 1e6 / seconds : NaN
}

export const MB = 1e6
export const MiB = 1024 * 1024
