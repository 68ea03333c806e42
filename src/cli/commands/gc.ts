import { jsonOption, repoOption } from '../command.ts'
import type { Command } from '../command.ts'
import { daemonClient } from '../daemon-client.ts'
import { printJson } from '../io.ts'
import { formatBytes } from '../progress.ts'

export const gcCommand: Command = {
  name: 'gc',
  summary: 'Remove the blocks that no pin covers and that this node does not hold for the network.',
  usage: 'gc [--json]',
  options: { repo: repoOption, json: jsonOption },
  async run (ctx) {
    const r = await (await daemonClient(ctx)).call('repo.gc', {}, { timeoutMs: 3_600_000 })
    if (ctx.values.json === true) printJson(ctx.io, r)
    else ctx.io.stdout(`removed ${r.removedBlocks} blocks, freed ${formatBytes(r.freedBytes)}\n`)
    return 0
  }
}
