import { jsonOption, repoOption, UsageError } from '../command.ts'
import type { Command } from '../command.ts'
import { daemonClient } from '../daemon-client.ts'
import { formatTable, printJson } from '../io.ts'
import { formatBytes } from '../progress.ts'

export const repoCommand: Command = {
  name: 'repo',
  summary: 'Show the repo\'s numbers: repo stat.',
  usage: 'repo stat [--json]',
  options: { repo: repoOption, json: jsonOption },
  async run (ctx) {
    if (ctx.positionals[0] !== 'stat' || ctx.positionals.length > 1) throw new UsageError('say "repo stat"')
    const s = await (await daemonClient(ctx)).call('repo.stat')
    if (ctx.values.json === true) printJson(ctx.io, s)
    else {
      ctx.io.stdout(formatTable([
        ['blocks', String(s.blocks)],
        ['size', s.maxBytes > 0 ? `${formatBytes(s.bytes)} of ${formatBytes(s.maxBytes)} (storageMax)` : formatBytes(s.bytes)],
        ['cache', `${formatBytes(s.cacheBytes)} (gc reclaims it)`],
        ['pins', String(s.pins)],
        ['disk free', `${formatBytes(s.freeBytes)} of ${formatBytes(s.totalBytes)}`]
      ]))
    }
    return 0
  }
}
