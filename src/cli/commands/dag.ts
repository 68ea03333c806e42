import { jsonOption, repoOption, UsageError } from '../command.ts'
import type { Command, CommandContext } from '../command.ts'
import { daemonClient } from '../daemon-client.ts'
import { writeAnswer } from '../download.ts'
import { printJson } from '../io.ts'
import { fileStream, inspectInput } from '../local-files.ts'
import { replicationLine } from './add.ts'

export const dagCommand: Command = {
  name: 'dag',
  summary: 'CAR archives, as Kubo\'s ipfs dag export / import: dag export CID > x.car, dag import FILE|-.',
  usage: 'dag export CID | dag import [--no-pin-roots] [--stats] [--json] FILE|-',
  description: [
    '  dag export CID      writes the DAG under CID to standard output as a CAR v1: the blocks depth',
    '                      first, each once, as `ipfs dag export` writes them (from here or the network)',
    '  dag import FILE     reads a CAR (v1 or v2; - for standard input): every block is checked against',
    '                      its CID first, and a CAR with one bad block (or cut short) is refused with',
    '                      nothing stored. The blocks are stored and replicated as an add\'s (the same',
    '                      write quorum), then each root is pinned. Prints "Pinned root CID success".'
  ].join('\n'),
  options: {
    repo: repoOption,
    'no-pin-roots': { type: 'boolean', description: 'import: do not pin the roots (Kubo\'s --pin-roots=false)' },
    stats: { type: 'boolean', description: 'import: also print how many blocks and bytes were imported' },
    json: jsonOption
  },
  async run (ctx) {
    const [sub, arg, ...rest] = ctx.positionals
    if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`)
    switch (sub) {
      case 'export': {
        if (arg == null) throw new UsageError('dag export takes a CID')
        if (ctx.values['no-pin-roots'] != null || ctx.values.stats != null || ctx.values.json != null) throw new UsageError('dag export takes no options but --repo (it writes the CAR to standard output)')
        const client = await daemonClient(ctx)
        return await writeAnswer(ctx, await client.dagExport(arg), arg)
      }
      case 'import':
        if (arg == null) throw new UsageError('dag import takes a FILE (or - for standard input)')
        return await importCar(ctx, arg)
      default:
        throw new UsageError(sub == null ? 'say export or import' : `unknown dag command "${sub}": say export or import`)
    }
  }
}

async function importCar (ctx: CommandContext, name: string): Promise<number> {
  const input = await inspectInput(name, false, 'import')
  const source = input.kind === 'stdin' ? ctx.io.stdin as AsyncIterable<Uint8Array> : fileStream(name)
  const client = await daemonClient(ctx)
  const result = await client.dagImport(source, { query: ctx.values['no-pin-roots'] === true ? { 'pin-roots': false } : {} })
  if (ctx.values.json === true) {
    printJson(ctx.io, result)
    return 0
  }
  // Kubo's lines
  if (result.pinned) for (const root of result.roots) ctx.io.stdout(`Pinned root\t${root}\tsuccess\n`)
  if (ctx.values.stats === true) ctx.io.stdout(`Imported ${result.blocks} blocks (${result.bytes} bytes)\n`)
  ctx.io.stderr(replicationLine({ cid: result.roots.join(' '), size: result.bytes, blocks: result.replication.blocks, replication: result.replication }) + '\n')
  return 0
}
