import { jsonOption, repoOption, UsageError } from '../command.ts'
import type { Command } from '../command.ts'
import { daemonClient } from '../daemon-client.ts'
import { formatTable, printJson } from '../io.ts'

export const pinCommand: Command = {
  name: 'pin',
  summary: 'Keep content on this node: pin add CID, pin rm CID, pin ls.',
  usage: 'pin add|rm|ls [CID] [--json]',
  description: 'pin add fetches what is missing first. gc never removes pinned blocks.',
  options: { repo: repoOption, json: jsonOption, direct: { type: 'boolean', description: 'pin add: only the root block' } },
  async run (ctx) {
    const [sub, cid, ...rest] = ctx.positionals
    if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`)
    const client = await daemonClient(ctx)
    const json = ctx.values.json === true
    switch (sub) {
      case 'add': {
        if (cid == null) throw new UsageError('pin add takes a CID')
        // pinning fetches what is missing first: it may take long (the default call deadline is 30 s)
        const r = await client.call<{ cid: string, blocks: number, bytes: number }>('pin.add', { cid, recursive: ctx.values.direct !== true }, { timeoutMs: 3_600_000 })
        if (json) printJson(ctx.io, r)
        else ctx.io.stdout(`pinned ${r.cid} (${r.blocks} blocks)\n`)
        return 0
      }
      case 'rm': {
        if (cid == null) throw new UsageError('pin rm takes a CID')
        await client.call('pin.rm', { cid })
        if (json) printJson(ctx.io, { cid })
        else ctx.io.stdout(`unpinned ${cid}\n`)
        return 0
      }
      case 'ls': {
        if (cid != null) throw new UsageError('pin ls takes no CID')
        const pins = await client.call<Array<{ cid: string, mode: string, blocks: number, bytes: number }>>('pin.ls')
        if (json) printJson(ctx.io, pins)
        else if (pins.length > 0) ctx.io.stdout(formatTable(pins.map(p => [p.cid, p.mode, `${p.blocks} blocks`])))
        return 0
      }
      default:
        throw new UsageError(sub == null ? 'say add, rm or ls' : `unknown pin command "${sub}": say add, rm or ls`)
    }
  }
}
