import { InvalidArgumentError } from '../../errors.ts'
import { jsonOption, repoOption, UsageError } from '../command.ts'
import type { Command } from '../command.ts'
import type { ParamsOf } from '../../rpc/api.ts'
import { daemonClient } from '../daemon-client.ts'
import { printJson } from '../io.ts'

export const refsCommand: Command = {
  name: 'refs',
  summary: 'List the CIDs a block links to, one per line (Kubo\'s ipfs refs).',
  usage: 'refs [-r] [-u] [--max-depth N] [--json] CID',
  description: 'With -r every link below CID, depth first; a block linked from several places is listed each time unless --unique.',
  options: {
    repo: repoOption,
    recursive: { type: 'boolean', short: 'r', description: 'every link below, not only the CID\'s own' },
    unique: { type: 'boolean', short: 'u', description: 'list each CID once' },
    'max-depth': { type: 'string', value: 'N', description: 'with -r: at most N links deep (default: no limit)' },
    json: jsonOption
  },
  async run (ctx) {
    if (ctx.positionals.length !== 1) throw new UsageError('refs takes one CID')
    const params: ParamsOf<'content.refs'> = { cid: ctx.positionals[0], recursive: ctx.values.recursive === true, unique: ctx.values.unique === true }
    const depth = ctx.values['max-depth'] as string | undefined
    if (depth != null) {
      if (!/^\d+$/.test(depth) || Number(depth) < 1) throw new InvalidArgumentError(`--max-depth must be a whole number >= 1, not "${depth}"`)
      if (ctx.values.recursive !== true) throw new UsageError('--max-depth goes with -r')
      params.maxDepth = Number(depth)
    }
    // a large DAG may take long to walk (the default call deadline is 30 s)
    const refs = await (await daemonClient(ctx)).call('content.refs', params, { timeoutMs: 3_600_000 })
    if (ctx.values.json === true) printJson(ctx.io, refs)
    else if (refs.length > 0) ctx.io.stdout(refs.join('\n') + '\n')
    return 0
  }
}
