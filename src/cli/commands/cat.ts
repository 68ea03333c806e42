import { pipeline } from 'node:stream/promises'
import { InvalidArgumentError, ShoalError } from '../../errors.ts'
import { repoOption, UsageError } from '../command.ts'
import type { Command } from '../command.ts'
import { daemonClient } from '../daemon-client.ts'

export const catCommand: Command = {
  name: 'cat',
  summary: 'Write a file\'s bytes to standard output (from this node or the network).',
  usage: 'cat [-o|--offset N] [-l|--length N] CID',
  options: {
    repo: repoOption,
    offset: { type: 'string', short: 'o', value: 'N', description: 'first byte (default 0)' },
    length: { type: 'string', short: 'l', value: 'N', description: 'bytes to write (default: to the end)' }
  },
  async run (ctx) {
    if (ctx.positionals.length !== 1) throw new UsageError('cat takes one CID')
    const query = new URLSearchParams()
    for (const key of ['offset', 'length']) {
      const raw = ctx.values[key] as string | undefined
      if (raw == null) continue
      if (!/^\d+$/.test(raw)) throw new InvalidArgumentError(`--${key} must be a whole number, not "${raw}"`)
      query.set(key, raw)
    }
    const client = await daemonClient(ctx)
    const res = await client.request('GET', `/api/v1/cat/${encodeURIComponent(ctx.positionals[0])}?${query}`)
    if (res.statusCode !== 200) await client.readAnswer(res)
    const expected = Number(res.headers['content-length'])
    let got = 0
    res.on('data', (c: Buffer) => { got += c.length })
    try {
      await pipeline(res, ctx.io.binaryOut, { end: false })
    } catch (err) {
      // the reader went away (`shoal cat CID | head`): not a failure of cat
      if ((err as NodeJS.ErrnoException).code === 'EPIPE') {
        res.destroy()
        return 0
      }
      throw err
    }
    if (Number.isFinite(expected) && got !== expected) {
      throw new ShoalError(`The transfer of ${ctx.positionals[0]} stopped after ${got} of ${expected} bytes (see the daemon's log)`, 'ERR_TRUNCATED')
    }
    return 0
  }
}
