/**
 * Garbage collections of a node's process during a measured piece of work,
 * counted from V8's `--trace-gc` lines (shoal daemons run with it, see
 * shoal-peer.ts). Full collections (Mark-Compact) are the costly ones. With
 * the daemons' 16 MB young generation, moving bytes makes almost no
 * scavenges; V8 counts the external (ArrayBuffer) memory allocated since the
 * last full GC against the old generation's limit, so every buffer left to the
 * collector brings the next full GC closer (bench/analysis.md).
 */
import type { StoragePeer } from './peers.ts'

/** Garbage collections of a daemon, as counted from its `--trace-gc` lines. */
export interface GcCounts {
  /** Mark-Compact: full collections of the whole heap */
  full: number
  /** Scavenge: young-generation collections */
  scavenges: number
  /** full collections by the reason V8 gives (e.g. "external memory pressure") */
  fullReasons: Record<string, number>
}

/**
 * Counts the lines `--trace-gc` prints to stdout, e.g.
 * `[123:0x55d0]   4520 ms: Mark-Compact 40.1 (52.3) -> 22.0 (50.1) MB, pooled: 0 MB, 3.1 / 0.0 ms (+ 1.2 ms in 12 steps since start of marking, ...) (average mu = 0.9, current mu = 0.8) finalize incremental marking via stack guard; GC in old space requested`.
 * Fed with the daemon's output in whatever pieces the pipe gives; GC lines
 * are taken out, everything else is passed on (so the output kept for error
 * messages is the daemon's own, not thousands of GC lines).
 */
export class GcLineCounter {
  readonly counts: GcCounts = { full: 0, scavenges: 0, fullReasons: {} }
  private partial = ''

  /** Counts the GC lines of `text`; returns the rest (complete lines only; a partial line waits for its end). */
  feed (text: string): string {
    const lines = (this.partial + text).split('\n')
    this.partial = lines.pop() ?? ''
    let rest = ''
    for (const line of lines) {
      if (!this.count(line)) rest += line + '\n'
    }
    return rest
  }

  /** the last line, still without its end */
  get unfinished (): string {
    return this.partial
  }

  snapshot (): GcCounts {
    return { ...this.counts, fullReasons: { ...this.counts.fullReasons } }
  }

  private count (line: string): boolean {
    const m = /^\[\d+:0x[0-9a-f]+\]\s+\d+ ms: (Scavenge|Mark-Compact|Minor Mark-Sweep)\b/.exec(line)
    if (m == null) return false
    if (m[1] === 'Mark-Compact') {
      this.counts.full++
      // the reason comes last: "...) REASON; GC in old space requested" or "...) REASON"
      const reason = /\)\s*([^();]*?)\s*(?:;[^;]*)?$/.exec(line)?.[1] ?? ''
      const key = reason === '' ? 'unknown' : reason
      this.counts.fullReasons[key] = (this.counts.fullReasons[key] ?? 0) + 1
    } else {
      this.counts.scavenges++
    }
    return true
  }
}

/** The counts of `after` minus those of `before`. */
export function gcDiff (before: GcCounts, after: GcCounts): GcCounts {
  const fullReasons: Record<string, number> = {}
  for (const [reason, n] of Object.entries(after.fullReasons)) {
    const d = n - (before.fullReasons[reason] ?? 0)
    if (d > 0) fullReasons[reason] = d
  }
  return { full: after.full - before.full, scavenges: after.scavenges - before.scavenges, fullReasons }
}

/** How long the last GC lines of the work measured may take through the pipe. */
const SETTLE_MS = 100

/** Starts counting `peer`'s collections; `stop` gives those since (undefined for a node that is not traced). */
export function gcMeter (peer: StoragePeer): { stop(): Promise<GcCounts | undefined> } {
  const before = peer.gcCounts?.()
  return {
    async stop () {
      if (before == null) return undefined
      await new Promise(resolve => setTimeout(resolve, SETTLE_MS))
      const after = peer.gcCounts?.()
      return after == null ? undefined : gcDiff(before, after)
    }
  }
}

/** Collections per 256 MiB of the file: the numbers of runs at different sizes compare. */
export function per256MiB (count: number, bytes: number): number {
  return count * 256 * 1024 * 1024 / bytes
}
