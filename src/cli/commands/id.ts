import { jsonOption, repoOption } from '../command.ts'
import type { Command } from '../command.ts'
import { daemonClient } from '../daemon-client.ts'
import { formatTable, printJson } from '../io.ts'

export const idCommand: Command = {
  name: 'id',
  summary: 'Show the running node\'s peer id, addresses and version.',
  usage: 'id [--repo DIR] [--json]',
  options: { repo: repoOption, json: jsonOption },
  async run (ctx) {
    const info = await (await daemonClient(ctx)).call('node.id')
    if (ctx.values.json === true) {
      printJson(ctx.io, info)
      return 0
    }
    ctx.io.stdout(formatTable([['peer id', info.peerId], ['version', info.version]]))
    ctx.io.stdout('addresses:\n' + info.addresses.map(a => `  ${a}\n`).join(''))
    return 0
  }
}
