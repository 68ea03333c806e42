import { createWriteStream } from 'node:fs'
import type http from 'node:http'
import fs from 'node:fs/promises'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { contentPathName, parseContentPath } from '../../content/path.ts'
import { ShoalError, UnsafePathError } from '../../errors.ts'
import { systemErrorCode, systemErrorWords } from '../../platform/errno.ts'
import type { ShoalClient } from '../../client/client.ts'
import { repoOption, UsageError } from '../command.ts'
import type { Command } from '../command.ts'
import { daemonClient } from '../daemon-client.ts'
import { writeAnswer } from '../download.ts'
import { progressBar } from '../progress.ts'

export const getCommand: Command = {
  name: 'get',
  summary: 'Save a file or a directory tree to disk (from this node or the network).',
  usage: 'get [-o PATH] [-a] [-Q] CID[/PATH]',
  description: [
    'CID/dir and /ipfs/CID/dir name what is below a directory; it is saved under its own name',
    '(the last segment of the path, else the CID), as `ipfs get` does.',
    'A file is written aside and renamed into place when complete; a tree is recreated below PATH,',
    'its symlinks as symlinks. Nothing is ever written through a symlink inside the tree: an entry',
    'whose path is a symlink (a crafted tree, or one left from an earlier get) is refused or replaced.',
    'With -a (--archive), the tree (or file) comes as one tar archive, in the layout `ipfs get -a`',
    'writes, to standard output, or to -o FILE.'
  ].join('\n'),
  options: {
    repo: repoOption,
    output: { type: 'string', short: 'o', value: 'PATH', description: 'where to write it (default: ./NAME; with -a: standard output)' },
    archive: { type: 'boolean', short: 'a', description: 'a tar archive of it (as Kubo\'s get -a)' },
    quiet: { type: 'boolean', short: 'Q', description: 'no progress' }
  },
  async run (ctx) {
    if (ctx.positionals.length !== 1) throw new UsageError('get takes one CID or path')
    const arg = ctx.positionals[0]
    const target = parseContentPath(arg)
    const output = ctx.values.output as string | undefined
    const quiet = ctx.values.quiet === true
    const client = await daemonClient(ctx)
    if (ctx.values.archive === true) {
      const res = await client.tar(arg)
      if (output == null) return await writeAnswer(ctx, res, arg)
      const out = path.resolve(output)
      await saveAnswer(res, arg, out, () => {}, { followExisting: true })
      if (!quiet) ctx.io.stdout(`saved ${arg} to ${out} (tar)\n`)
      return 0
    }
    const out = path.resolve(output ?? contentPathName(target))
    const stat = await client.call('content.stat', { cid: arg, replicas: false })
    const bar = progressBar(ctx.io, { label: `getting ${arg.slice(0, 12)}…`, total: stat.size, quiet })
    let done = 0
    const counter = (n: number): void => { done += n; bar.update(done) }
    if (stat.type === 'directory') {
      await fs.mkdir(out, { recursive: true }).catch((err: unknown) => { throw writeError(err, out) })
      await getTree(client, stat.cid, out, counter)
    } else if (stat.type === 'symlink') {
      await makeSymlink(stat.target ?? '', out)
    } else {
      await getFile(client, stat.cid, out, counter, { followExisting: true })
    }
    bar.done()
    if (!quiet) ctx.io.stdout(`saved ${arg} to ${out}\n`)
    return 0
  }
}

/** Writes a file's bytes to `file` (saveAnswer). */
async function getFile (client: ShoalClient, cid: string, file: string, onBytes: (n: number) => void, options: { followExisting?: boolean } = {}): Promise<void> {
  await saveAnswer(await client.cat(cid), cid, file, onBytes, options)
}

/**
 * Writes a byte route's answer to `file`: aside, then renamed into place (a
 * rename replaces a symlink there, never writes through it). `followExisting`
 * (the PATH the user named, not an entry of a tree): a device, FIFO or socket
 * there (/dev/null, a pipe), or a symlink to one, is written into, not replaced.
 */
async function saveAnswer (res: http.IncomingMessage, what: string, file: string, onBytes: (n: number) => void, options: { followExisting?: boolean } = {}): Promise<void> {
  const existing = options.followExisting === true ? await fs.stat(file).catch(() => undefined) : undefined
  const partial = `${file}.shoal-partial`
  // a leftover (or a symlink of that name in the tree) goes; the file is then created new ('wx'), never opened through a link
  await fs.rm(partial, { force: true }).catch((err: unknown) => { res.destroy(); throw writeError(err, partial) })
  const expected = Number(res.headers['content-length'])
  let got = 0
  // no await from here until the pipeline reads `res`: the 'data' listener starts the flow
  res.on('data', (c: Buffer) => { got += c.length; onBytes(c.length) })
  const truncated = (): Error => new ShoalError(`The transfer of ${what} stopped after ${got}${Number.isFinite(expected) ? ` of ${expected}` : ''} bytes`, 'ERR_TRUNCATED')
  if (existing != null && !existing.isFile() && !existing.isDirectory()) {
    // a device, FIFO or socket (/dev/null, /dev/stdout, a pipe): write into it, never replace it
    await pipeline(res, createWriteStream(file)).catch((err: unknown) => { throw brokenOff(err, truncated) })
    if (Number.isFinite(expected) && got !== expected) throw truncated()
    return
  }
  try {
    await pipeline(res, createWriteStream(partial, { flags: 'wx' })).catch((err: unknown) => { throw brokenOff(err, truncated) })
    if (Number.isFinite(expected) && got !== expected) throw truncated()
    await fs.rename(partial, file)
  } catch (err) {
    res.destroy()
    await fs.rm(partial, { force: true })
    throw writeError(err, file)
  }
}

/** An answer the daemon broke off (a chunked one, a tar, has no length to check) is a truncated transfer, not a write error. */
function brokenOff (err: unknown, truncated: () => Error): unknown {
  const e = err as NodeJS.ErrnoException
  return e.code === 'ECONNRESET' && e.message === 'aborted' ? truncated() : err
}

/** Creates the symlink `file` -> `target` (the target as stored, not checked: it is never followed here); replaces a symlink already there. */
async function makeSymlink (target: string, file: string): Promise<void> {
  try {
    if ((await fs.lstat(file).catch(() => undefined))?.isSymbolicLink() === true) await fs.unlink(file)
    await fs.symlink(target, file)
  } catch (err) {
    throw writeError(err, file)
  }
}

/** A failure to write `file` in shoal's words (the disk, the path), else the error itself. */
function writeError (err: unknown, file: string): unknown {
  const words = systemErrorWords(systemErrorCode(err))
  return words == null ? err : new ShoalError(`Cannot write "${file}": ${words}`, 'ERR_WRITE', { cause: err })
}

/** Recreates the entries of directory `cid` in `dir` (which exists and is no symlink), depth first. */
async function getTree (client: ShoalClient, cid: string, dir: string, onBytes: (n: number) => void): Promise<void> {
  for (const entry of await client.call('content.ls', { cid })) {
    if (entry.name === '' || entry.name === '.' || entry.name === '..' || entry.name.includes('/') || entry.name.includes('\0')) {
      throw new UnsafePathError(`Refusing to write the entry "${entry.name}" of ${cid}: not a plain name`)
    }
    const target = path.join(dir, entry.name)
    if (entry.type === 'symlink') {
      const link = await client.call('content.stat', { cid: entry.cid, replicas: false })
      await makeSymlink(link.target ?? '', target)
    } else if (entry.type === 'directory') {
      const existing = await fs.lstat(target).catch(() => undefined)
      if (existing?.isSymbolicLink() === true) {
        throw new UnsafePathError(`Refusing to write into "${target}": it is a symlink (the tree has two entries named "${entry.name}", or an earlier get left a link there)`)
      }
      if (existing == null) await fs.mkdir(target).catch((err: unknown) => { throw writeError(err, target) })
      else if (!existing.isDirectory()) throw new ShoalError(`Cannot write "${target}": a file is in the way of a directory`, 'ERR_WRITE')
      await getTree(client, entry.cid, target, onBytes)
    } else {
      await getFile(client, entry.cid, target, onBytes)
    }
  }
}
