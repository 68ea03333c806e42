import { jsonOption, repoOption, UsageError } from '../command.ts'
import type { Command } from '../command.ts'
import { daemonClient } from '../daemon-client.ts'
import { formatTable, printJson } from '../io.ts'
import { formatBytes } from '../progress.ts'

export const repairCommand: Command = {
  name: 'repair',
  summary: 'Show what repair keeps and moves (repair status), or start a pass now (repair run).',
  usage: 'repair status|run [--json]',
  description: [
    'Repair keeps k copies of every block: when a storage node leaves, its blocks are copied to the',
    'next nearest nodes after a grace period; a node that joins receives its share; neighbours',
    'compare range summaries (anti-entropy) to find what one lacks; scrub re-verifies stored blocks.'
  ].join('\n'),
  options: { repo: repoOption, json: jsonOption },
  async run (ctx) {
    const [sub, ...rest] = ctx.positionals
    if ((sub !== 'status' && sub !== 'run') || rest.length > 0) throw new UsageError('say "repair status" or "repair run"')
    const client = await daemonClient(ctx)
    if (sub === 'run') {
      const r = await client.call('repair.run')
      if (ctx.values.json === true) printJson(ctx.io, r)
      else ctx.io.stdout(r.started ? 'repair pass started (see: shoal repair status)\n' : 'a repair pass is running already\n')
      return 0
    }
    const s = await client.call('repair.status')
    if (ctx.values.json === true) {
      printJson(ctx.io, s)
      return 0
    }
    const moved = (m: { blocks: number, bytes: number }): string => `${m.blocks} blocks (${formatBytes(m.bytes)})`
    const rows: string[][] = []
    if (s.current != null) {
      rows.push(['running', `${s.current.phase}${s.current.peer == null ? '' : ` with ${s.current.peer}`} since ${new Date(s.current.startedAt).toISOString()}`])
      rows.push(['moved so far', `pushed ${moved(s.current.pushed)}, pulled ${moved(s.current.pulled)}, handed off ${moved(s.current.handedOff)}`])
    } else {
      rows.push(['running', 'no'])
    }
    if (s.last != null) {
      rows.push(['last pass', `${new Date(s.last.endedAt).toISOString()}, ${((s.last.endedAt - s.last.startedAt) / 1000).toFixed(1)} s: ${s.last.inSync} of ${s.last.peers} neighbours in sync; ` +
        `pushed ${moved(s.last.pushed)}, pulled ${moved(s.last.pulled)}, handed off ${moved(s.last.handedOff)}${s.last.failures > 0 ? `, ${s.last.failures} failures` : ''}`])
    }
    rows.push(['rate', `${formatBytes(s.rateBytesPerSecond)}/s (limit ${formatBytes(s.settings.bytesPerSecond)}/s)`])
    rows.push(['under-replicated', `${moved(s.underReplicated)} held here in ${s.underReplicated.ranges} ranges`])
    for (const d of s.departed) rows.push(['departed', `${d.peer} since ${d.since} (replaced after ${s.settings.graceMs / 1000} s)`])
    rows.push(['since start', `${s.totals.passes} passes; pushed ${moved(s.totals.pushed)}, pulled ${moved(s.totals.pulled)}, handed off ${moved(s.totals.handedOff)}`])
    rows.push(['scrub', s.scrub.periodMs === 0
      ? 'off'
      : `checked ${s.scrub.checkedBlocks} blocks (${formatBytes(s.scrub.checkedBytes)}), ${s.scrub.corrupt} corrupt, ${s.scrub.restored} restored; ${s.scrub.fullPasses} full passes (one per ${s.scrub.periodMs / 3600_000} h)`])
    ctx.io.stdout(formatTable(rows))
    return 0
  }
}
