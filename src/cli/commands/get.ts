import { createWriteStream } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { ContentStat } from '../../content/exporter.ts'
import { ShoalError } from '../../errors.ts'
import { systemErrorCode, systemErrorWords } from '../../platform/errno.ts'
import type { RpcClient } from '../../rpc/client.ts'
import { repoOption, UsageError } from '../command.ts'
import type { Command } from '../command.ts'
import { daemonClient } from '../daemon-client.ts'
import { progressBar } from '../progress.ts'
import type { LsRow } from './ls.ts'

export const getCommand: Command = {
  name: 'get',
  summary: 'Save a file or a directory tree to disk (from this node or the network).',
  usage: 'get [-o PATH] [-Q] CID',
  description: 'A file is written aside and renamed into place when complete; a tree is recreated below PATH.',
  options: {
    repo: repoOption,
    output: { type: 'string', short: 'o', value: 'PATH', description: 'where to write it (default: ./CID)' },
    quiet: { type: 'boolean', short: 'Q', description: 'no progress' }
  },
  async run (ctx) {
    if (ctx.positionals.length !== 1) throw new UsageError('get takes one CID')
    const cid = ctx.positionals[0]
    const out = path.resolve((ctx.values.output as string | undefined) ?? cid)
    const client = await daemonClient(ctx)
    const stat = await client.call<ContentStat>('content.stat', { cid, replicas: false })
    const bar = progressBar(ctx.io, { label: `getting ${cid.slice(0, 12)}…`, total: stat.size, quiet: ctx.values.quiet === true })
    let done = 0
    const counter = (n: number): void => { done += n; bar.update(done) }
    if (stat.type === 'directory') await getTree(client, cid, out, counter)
    else await getFile(client, cid, out, counter)
    bar.done()
    if (ctx.values.quiet !== true) ctx.io.stdout(`saved ${cid} to ${out}\n`)
    return 0
  }
}

async function getFile (client: RpcClient, cid: string, file: string, onBytes: (n: number) => void): Promise<void> {
  const existing = await fs.stat(file).catch(() => undefined)
  const res = await client.request('GET', `/api/v1/cat/${encodeURIComponent(cid)}`)
  if (res.statusCode !== 200) await client.readAnswer(res)
  const expected = Number(res.headers['content-length'])
  let got = 0
  // no await from here until the pipeline reads `res`: the 'data' listener starts the flow
  res.on('data', (c: Buffer) => { got += c.length; onBytes(c.length) })
  const truncated = (): Error => new ShoalError(`The transfer of ${cid} stopped after ${got} of ${expected} bytes`, 'ERR_TRUNCATED')
  if (existing != null && !existing.isFile() && !existing.isDirectory()) {
    // a device, FIFO or socket (/dev/null, /dev/stdout, a pipe): write into it, never replace it
    await pipeline(res, createWriteStream(file))
    if (Number.isFinite(expected) && got !== expected) throw truncated()
    return
  }
  const partial = `${file}.shoal-partial`
  try {
    await pipeline(res, createWriteStream(partial))
    if (Number.isFinite(expected) && got !== expected) throw truncated()
    await fs.rename(partial, file)
  } catch (err) {
    res.destroy()
    await fs.rm(partial, { force: true })
    throw writeError(err, file)
  }
}

/** A failure to write `file` in shoal's words (the disk, the path), else the error itself. */
function writeError (err: unknown, file: string): unknown {
  const words = systemErrorWords(systemErrorCode(err))
  return words == null ? err : new ShoalError(`Cannot write "${file}": ${words}`, 'ERR_WRITE', { cause: err })
}

async function getTree (client: RpcClient, cid: string, dir: string, onBytes: (n: number) => void): Promise<void> {
  await fs.mkdir(dir, { recursive: true }).catch((err: unknown) => { throw writeError(err, dir) })
  for (const entry of await client.call<LsRow[]>('content.ls', { cid })) {
    if (entry.name === '' || entry.name === '.' || entry.name === '..' || entry.name.includes('/') || entry.name.includes('\0')) {
      throw new ShoalError(`Refusing to write the entry "${entry.name}" of ${cid}: not a plain name`, 'ERR_UNSAFE_PATH')
    }
    const target = path.join(dir, entry.name)
    if (entry.type === 'directory') await getTree(client, entry.cid, target, onBytes)
    else await getFile(client, entry.cid, target, onBytes)
  }
}

