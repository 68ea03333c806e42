/**
 * A UnixFS tree (or one file or symlink) as a tar archive, in the layout
 * `ipfs get -a` writes: the top entry is named `name` (the last segment of
 * the path asked for, or the CID) and everything below it is `name/...`,
 * each directory before its contents. Directories, files and symlinks, with
 * the mode and mtime UnixFS has (else 0755 / 0644, and the time of the
 * export, as Kubo; symlinks 0777). it-tar writes the archive (USTAR, with
 * pax headers for long or non-ASCII names and link targets, and for sizes
 * past USTAR's 8 GiB).
 *
 * Memory stays flat: the archive is pulled by its reader, entry after
 * entry, and each file's bytes stream from its blocks (exporter.ts walk);
 * nothing holds a whole file.
 */
import { pack } from 'it-tar'
import type { TarImportCandidate } from 'it-tar'
import type { CID } from 'multiformats/cid'
import type { AbortOptions, BlockSource } from './blocks.ts'
import { walk } from './exporter.ts'
import type { WalkEntry } from './exporter.ts'

export interface TarOptions extends AbortOptions {
  /** blocks of a file fetched ahead per level of its DAG (exporter.ts; default 8) */
  blockReadConcurrency?: number
  /** the mtime of entries UnixFS gives none (default: now) */
  now?: Date
}

export const TAR_CONTENT_TYPE = 'application/x-tar'

/** The largest size USTAR's 11 octal digits hold; a larger file's size goes in a pax header. */
const USTAR_MAX_SIZE = 0o77777777777

const SYMLINK_MODE = 0o777

/** The archive's bytes, from the root block on (a root nobody has fails before the first chunk). */
export async function * exportTar (root: CID, name: string, source: BlockSource, options: TarOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
  const now = options.now ?? new Date()
  const entries = async function * (): AsyncGenerator<TarImportCandidate> {
    for await (const entry of walk(root, source, { signal: options.signal })) {
      yield tarEntry(entry, entry.path === '' ? name : `${name}/${entry.path}`, now, options)
    }
  }
  yield * pack()(entries())
}

function tarEntry (entry: WalkEntry, name: string, now: Date, options: TarOptions): TarImportCandidate {
  const mtime = entry.mtime ?? now
  if (entry.type === 'directory') {
    return { header: { name: `${name}/`, type: 'directory', mode: entry.mode, mtime } }
  }
  if (entry.type === 'symlink') {
    return { header: { name, type: 'symlink', linkname: entry.target ?? '', mode: SYMLINK_MODE, mtime } }
  }
  const size = entry.size
  return {
    header: { name, type: 'file', size, mode: entry.mode, mtime, ...(size > USTAR_MAX_SIZE ? { pax: { size: String(size) } } : {}) },
    body: entry.content?.({ signal: options.signal, blockReadConcurrency: options.blockReadConcurrency }) ?? []
  }
}
