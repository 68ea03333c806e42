import { InvalidArgumentError } from '../../errors.ts'
import { repoOption, UsageError } from '../command.ts'
import type { Command } from '../command.ts'
import { daemonClient } from '../daemon-client.ts'
import { writeAnswer } from '../download.ts'

export const catCommand: Command = {
  name: 'cat',
  summary: 'Write a file\'s bytes to standard output (from this node or the network).',
  usage: 'cat [-o|--offset N] [-l|--length N] CID[/PATH]',
  description: 'CID/dir/file and /ipfs/CID/dir/file name a file below a directory.',
  options: {
    repo: repoOption,
    offset: { type: 'string', short: 'o', value: 'N', description: 'first byte (default 0)' },
    length: { type: 'string', short: 'l', value: 'N', description: 'bytes to write (default: to the end)' }
  },
  async run (ctx) {
    if (ctx.positionals.length !== 1) throw new UsageError('cat takes one CID or path')
    const query: Record<string, string> = {}
    for (const key of ['offset', 'length']) {
      const raw = ctx.values[key] as string | undefined
      if (raw == null) continue
      if (!/^\d+$/.test(raw)) throw new InvalidArgumentError(`--${key} must be a whole number, not "${raw}"`)
      query[key] = raw
    }
    const client = await daemonClient(ctx)
    return await writeAnswer(ctx, await client.cat(ctx.positionals[0], { query }), ctx.positionals[0])
  }
}
