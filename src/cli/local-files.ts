/**
 * Reading what the user names on the command line: a file, stdin (`-`), or
 * a directory tree (for `add -r`), as directory entries for the importer or
 * as a multipart body for the daemon.
 */
import { createReadStream } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import { randomBytes } from 'node:crypto'
import { InvalidArgumentError } from '../errors.ts'

export interface LocalEntry {
  /** relative to the directory added, `/`-separated */
  path: string
  /** absolute path on disk; absent for a directory */
  file?: string
  size: number
}

/** Every file and directory below `root` (depth first, sorted), symlinks refused. */
export async function listTree (root: string): Promise<LocalEntry[]> {
  const out: LocalEntry[] = []
  const visit = async (dir: string, rel: string): Promise<void> => {
    const entries = (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
    for (const e of entries) {
      const abs = path.join(dir, e.name)
      const relPath = rel === '' ? e.name : `${rel}/${e.name}`
      if (e.isDirectory()) {
        out.push({ path: relPath, size: 0 })
        await visit(abs, relPath)
      } else if (e.isFile()) {
        out.push({ path: relPath, file: abs, size: (await fs.stat(abs)).size })
      } else {
        throw new InvalidArgumentError(`Cannot add "${abs}": only regular files and directories can be added (not symlinks, sockets or devices)`)
      }
    }
  }
  await visit(root, '')
  return out
}

/** What `FILE` on the command line is; clear errors for what cannot be added (or imported: `verb`). */
export async function inspectInput (name: string, recursive: boolean, verb = 'add'): Promise<{ kind: 'stdin' } | { kind: 'file', size: number } | { kind: 'directory' }> {
  if (name === '-') return { kind: 'stdin' }
  let stat
  try {
    stat = await fs.stat(name)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new InvalidArgumentError(`Cannot ${verb} "${name}": ${code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : (err as Error).message}`)
  }
  if (stat.isDirectory()) {
    if (!recursive) throw new InvalidArgumentError(`Cannot ${verb} "${name}": it is a directory${verb === 'add' ? ' (use -r to add it with everything in it)' : ''}`)
    return { kind: 'directory' }
  }
  if (!stat.isFile()) throw new InvalidArgumentError(`Cannot ${verb} "${name}": not a regular file`)
  return { kind: 'file', size: stat.size }
}

/** Counts bytes as they pass. */
export async function * counted (source: AsyncIterable<Uint8Array>, onBytes: (total: number) => void): AsyncGenerator<Uint8Array> {
  let total = 0
  for await (const chunk of source) {
    total += chunk.byteLength
    onBytes(total)
    yield chunk
  }
}

export function fileStream (file: string): AsyncIterable<Uint8Array> {
  return createReadStream(file, { highWaterMark: 1024 * 1024 })
}

/** A multipart/form-data body of a tree, streamed file by file. */
export function multipartBody (entries: LocalEntry[], onBytes: (total: number) => void): { body: Readable, contentType: string } {
  const boundary = `shoal-${randomBytes(12).toString('hex')}`
  async function * parts (): AsyncGenerator<Uint8Array> {
    let total = 0
    for (const e of entries) {
      const type = e.file == null ? 'application/x-directory' : 'application/octet-stream'
      yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${encodeURIComponent(e.path)}"\r\nContent-Type: ${type}\r\n\r\n`)
      if (e.file != null) {
        for await (const chunk of fileStream(e.file)) {
          total += chunk.byteLength
          onBytes(total)
          yield chunk
        }
      }
      yield Buffer.from('\r\n')
    }
    yield Buffer.from(`--${boundary}--\r\n`)
  }
  return { body: Readable.from(parts()), contentType: `multipart/form-data; boundary=${boundary}` }
}
