import { jsonOption, repoOption, UsageError } from '../command.ts'
import type { Command } from '../command.ts'
import { daemonClient } from '../daemon-client.ts'
import { formatTable, printJson } from '../io.ts'
import { formatBytes } from '../progress.ts'

export const statCommand: Command = {
  name: 'stat',
  summary: 'Show what a CID (or CID/dir/file, /ipfs/CID/...) is, its size, and where its replicas are.',
  usage: 'stat [--json] CID[/PATH]',
  description: [
    'A path is resolved first: what is shown is the CID it names.',
    'Replicas: for every block of the DAG, how many members of its replica set confirm they hold it.'
  ].join('\n'),
  options: { repo: repoOption, json: jsonOption },
  async run (ctx) {
    if (ctx.positionals.length !== 1) throw new UsageError('stat takes one CID or path')
    const stat = await (await daemonClient(ctx)).call('content.stat', { cid: ctx.positionals[0] })
    if (ctx.values.json === true) {
      printJson(ctx.io, stat)
      return 0
    }
    const rows = [['cid', stat.cid], ['type', stat.type], ['size', `${stat.size} (${formatBytes(stat.size)})`], ['dag size', String(stat.cumulativeSize)]]
    const r = stat.replicas
    if (r != null) {
      rows.push(['blocks', String(r.blocks)])
      rows.push(['replicas', r.histogram.map((n, i) => `${i}: ${n}`).join(', ') + ` (blocks by confirmed replicas, k=${r.k})`])
      rows.push(['root held by', r.rootHolders.join(' ') || 'nobody reachable'])
    }
    ctx.io.stdout(formatTable(rows))
    return 0
  }
}
