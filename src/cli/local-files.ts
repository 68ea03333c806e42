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
  /** absolute path on disk; absent for a directory or a symlink */
  file?: string
  /** a symlink's target, as it is on disk (never followed) */
  target?: string
  size: number
}

/**
 * Every file, directory and symlink below `root` (depth first, names sorted
 * bytewise, as Kubo walks). Names starting with "." are skipped unless
 * `hidden` (Kubo's default and `-H`). Symlinks are listed, not followed.
 */
export async function listTree (root: string, options: { hidden?: boolean } = {}): Promise<LocalEntry[]> {
  const out: LocalEntry[] = []
  const visit = async (dir: string, rel: string): Promise<void> => {
    const entries = (await fs.readdir(dir, { withFileTypes: true }))
      .filter(e => options.hidden === true || !e.name.startsWith('.'))
      .sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)))
    for (const e of entries) {
      const abs = path.join(dir, e.name)
      const relPath = rel === '' ? e.name : `${rel}/${e.name}`
      if (e.isDirectory()) {
        out.push({ path: relPath, size: 0 })
        await visit(abs, relPath)
      } else if (e.isFile()) {
        out.push({ path: relPath, file: abs, size: (await fs.stat(abs)).size })
      } else if (e.isSymbolicLink()) {
        out.push({ path: relPath, target: await fs.readlink(abs), size: 0 })
      } else {
        throw new InvalidArgumentError(`Cannot add "${abs}": only regular files, directories and symlinks can be added (not sockets, FIFOs or devices)`)
      }
    }
  }
  await visit(root, '')
  return out
}

export type InputKind = { kind: 'stdin' } | { kind: 'file', size: number } | { kind: 'directory' } | { kind: 'symlink', target: string }

/**
 * What `FILE` on the command line is; clear errors for what cannot be added
 * (or imported, put: `verb`).
 * A symlink is the link itself, as `ipfs add LINK` adds it (Kubo follows one
 * only with --dereference-args).
 */
export async function inspectInput (name: string, recursive: boolean, verb = 'add'): Promise<InputKind> {
  if (name === '-') return { kind: 'stdin' }
  let stat
  try {
    stat = await fs.lstat(name)
    if (stat.isSymbolicLink()) return { kind: 'symlink', target: await fs.readlink(name) }
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

/** Kubo's Content-Type for a symlink: a multipart part's, or a whole upload's (the body is the target). */
export const SYMLINK_TYPE = 'application/symlink'

/**
 * A multipart/form-data body of a tree, streamed file by file. Parts as Kubo
 * sends them: application/x-directory, application/symlink (the body is the
 * target), application/octet-stream (a file's bytes).
 */
export function multipartBody (entries: LocalEntry[]): { body: Readable, contentType: string } {
  const boundary = `shoal-${randomBytes(12).toString('hex')}`
  async function * parts (): AsyncGenerator<Uint8Array> {
    for (const e of entries) {
      const type = e.target != null ? SYMLINK_TYPE : e.file == null ? 'application/x-directory' : 'application/octet-stream'
      yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${encodeURIComponent(e.path)}"\r\nContent-Type: ${type}\r\n\r\n`)
      if (e.target != null) {
        yield Buffer.from(e.target)
      } else if (e.file != null) {
        yield * fileStream(e.file)
      }
      yield Buffer.from('\r\n')
    }
    yield Buffer.from(`--${boundary}--\r\n`)
  }
  return { body: Readable.from(parts()), contentType: `multipart/form-data; boundary=${boundary}` }
}
