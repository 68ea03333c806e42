import { jsonOption, repoOption, UsageError } from '../command.ts'
import type { Command } from '../command.ts'
import { daemonClient } from '../daemon-client.ts'
import { formatTable, printJson } from '../io.ts'

export interface LsRow { name: string, cid: string, type: string, size: number }

export const lsCommand: Command = {
  name: 'ls',
  summary: 'List the entries of a directory CID.',
  usage: 'ls [--json] CID',
  options: { repo: repoOption, json: jsonOption },
  async run (ctx) {
    if (ctx.positionals.length !== 1) throw new UsageError('ls takes one CID')
    const entries = await (await daemonClient(ctx)).call<LsRow[]>('content.ls', { cid: ctx.positionals[0] })
    if (ctx.values.json === true) printJson(ctx.io, entries)
    else if (entries.length > 0) ctx.io.stdout(formatTable(entries.map(e => [e.cid, String(e.size), e.type === 'directory' ? `${e.name}/` : e.name])))
    return 0
  }
}
