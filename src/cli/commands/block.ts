import { jsonOption, repoOption, UsageError } from '../command.ts'
import type { Command, CommandContext } from '../command.ts'
import { daemonClient } from '../daemon-client.ts'
import { writeAnswer } from '../download.ts'
import { printJson } from '../io.ts'
import { fileStream, inspectInput } from '../local-files.ts'

export const blockCommand: Command = {
  name: 'block',
  summary: 'Single blocks, as Kubo\'s ipfs block: block get CID, block put FILE|-, block stat CID.',
  usage: 'block get CID | block put [--cid-codec raw|dag-pb] [--pin] FILE|- | block stat CID  [--json]',
  description: [
    '  block get CID     writes the block\'s bytes to standard output (from here or the network)',
    '  block put FILE    stores FILE (- for standard input; at most 2 MiB) as one block and prints its',
    '                    CID (v1, sha2-256); replicated as an add\'s blocks are. Not pinned unless --pin.',
    '  block stat CID    the block\'s size and codec'
  ].join('\n'),
  options: {
    repo: repoOption,
    'cid-codec': { type: 'string', value: 'raw|dag-pb', description: 'put: the CID\'s codec (default raw); dag-pb blocks must decode as dag-pb' },
    pin: { type: 'boolean', description: 'put: pin the block here' },
    json: jsonOption
  },
  async run (ctx) {
    const [sub, arg, ...rest] = ctx.positionals
    if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`)
    if (sub !== 'put' && (ctx.values['cid-codec'] != null || ctx.values.pin != null)) throw new UsageError(`--cid-codec and --pin are for block put, not block ${sub ?? ''}`.trim())
    switch (sub) {
      case 'get': {
        if (arg == null) throw new UsageError('block get takes a CID')
        const client = await daemonClient(ctx)
        return await writeAnswer(ctx, await client.blockGet(arg), arg)
      }
      case 'put':
        if (arg == null) throw new UsageError('block put takes a FILE (or - for standard input)')
        return await put(ctx, arg)
      case 'stat': {
        if (arg == null) throw new UsageError('block stat takes a CID')
        const stat = await (await daemonClient(ctx)).call('block.stat', { cid: arg })
        if (ctx.values.json === true) printJson(ctx.io, stat)
        else ctx.io.stdout(`Key: ${stat.cid}\nSize: ${stat.size}\nCodec: ${stat.codec}\n`)
        return 0
      }
      default:
        throw new UsageError(sub == null ? 'say get, put or stat' : `unknown block command "${sub}": say get, put or stat`)
    }
  }
}

async function put (ctx: CommandContext, name: string): Promise<number> {
  const codec = (ctx.values['cid-codec'] as string | undefined) ?? 'raw'
  if (codec !== 'raw' && codec !== 'dag-pb') throw new UsageError(`--cid-codec must be raw or dag-pb, not "${codec}"`)
  const input = await inspectInput(name, false, 'put')
  const source = input.kind === 'stdin' ? ctx.io.stdin as AsyncIterable<Uint8Array> : fileStream(name)
  const client = await daemonClient(ctx)
  const result = await client.blockPut(source, { query: { 'cid-codec': codec, ...(ctx.values.pin === true ? { pin: true } : {}) } })
  if (ctx.values.json === true) printJson(ctx.io, result)
  else ctx.io.stdout(`${result.cid}\n`)
  return 0
}
