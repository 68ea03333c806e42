import { jsonOption, repoOption, UsageError } from '../command.ts'
import type { Command } from '../command.ts'
import { InvalidArgumentError } from '../../errors.ts'
import { METHODS } from '../../rpc/api.ts'
import { daemonClient } from '../daemon-client.ts'
import { printJson } from '../io.ts'

export const pinCommand: Command = {
  name: 'pin',
  summary: 'Keep content on this node: pin add CID, pin rm CID, pin ls [CID].',
  usage: 'pin add|rm CID | pin ls [--type recursive|direct|indirect|all] [-q] [CID] [--json]',
  description: [
    'pin add fetches what is missing first. gc never removes pinned blocks.',
    'pin ls prints "CID TYPE" as Kubo does: the recursive and direct pins, then the blocks inside',
    'recursive pins ("CID indirect through ROOT"); --type chooses (default all). pin ls CID says how',
    'that CID is pinned, or fails when it is not.'
  ].join('\n'),
  options: {
    repo: repoOption,
    json: jsonOption,
    direct: { type: 'boolean', description: 'pin add: only the root block' },
    type: { type: 'string', short: 't', value: 'TYPE', description: 'pin ls: recursive, direct, indirect or all (default all)' },
    quiet: { type: 'boolean', short: 'q', description: 'pin ls: print only the CIDs' }
  },
  async run (ctx) {
    const [sub, cid, ...rest] = ctx.positionals
    if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`)
    const json = ctx.values.json === true
    const type = (ctx.values.type as string | undefined) ?? 'all'
    if (ctx.values.type != null && sub !== 'ls') throw new UsageError('--type goes with pin ls')
    if (!isPinType(type)) throw new InvalidArgumentError(`Invalid pin type "${type}": expected ${PIN_TYPES.join(', ')}`)
    const client = await daemonClient(ctx)
    switch (sub) {
      case 'add': {
        if (cid == null) throw new UsageError('pin add takes a CID')
        // pinning fetches what is missing first: it may take long (the default call deadline is 30 s)
        const r = await client.call('pin.add', { cid, recursive: ctx.values.direct !== true }, { timeoutMs: 3_600_000 })
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
        // listing indirect pins walks every recursive pin's DAG: it may take long
        const pins = await client.call('pin.ls', { type, ...(cid == null ? {} : { cid }) }, { timeoutMs: 3_600_000 })
        if (json) printJson(ctx.io, pins)
        else if (ctx.values.quiet === true) ctx.io.stdout(pins.map(p => `${p.cid}\n`).join(''))
        else ctx.io.stdout(pins.map(p => `${p.cid} ${p.mode}${p.through == null ? '' : ` through ${p.through}`}\n`).join(''))
        return 0
      }
      default:
        throw new UsageError(sub == null ? 'say add, rm or ls' : `unknown pin command "${sub}": say add, rm or ls`)
    }
  }
}

/** pin ls --type: what the method table takes */
const PIN_TYPES = METHODS['pin.ls'].params.shape.type.unwrap().options

function isPinType (type: string): type is typeof PIN_TYPES[number] {
  return (PIN_TYPES as readonly string[]).includes(type)
}
