import { jsonOption, repoOption, UsageError } from '../command.ts'
import type { Command } from '../command.ts'
import { daemonClient } from '../daemon-client.ts'
import { formatTable, printJson } from '../io.ts'

export interface LsRow { name: string, cid: string, type: string, size: number }

export const lsCommand: Command = {
  name: 'ls',
  summary: 'List the entries of a directory CID (or of CID/dir, /ipfs/CID/dir).',
  usage: 'ls [-v] [--json] CID[/PATH]',
  options: {
    repo: repoOption,
    headers: { type: 'boolean', short: 'v', description: 'print a header line (Hash Size Name), as Kubo\'s ls -v' },
    json: jsonOption
  },
  async run (ctx) {
    if (ctx.positionals.length !== 1) throw new UsageError('ls takes one CID or path')
    const entries = await (await daemonClient(ctx)).call('content.ls', { cid: ctx.positionals[0] })
    if (ctx.values.json === true) {
      printJson(ctx.io, entries)
      return 0
    }
    const rows = entries.map(e => [e.cid, String(e.size), e.type === 'directory' ? `${e.name}/` : e.name])
    if (ctx.values.headers === true) rows.unshift(['Hash', 'Size', 'Name'])
    if (rows.length > 0) ctx.io.stdout(formatTable(rows))
    return 0
  }
}
