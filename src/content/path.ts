/**
 * `CID/dir/file`: the CID a path below a root names, through UnixFS
 * directories (HAMT shards included), with ipfs-unixfs-exporter's walkPath.
 * The blocks read on the way are kept, in order: they are what a client
 * needs to verify the path itself (a trustless CAR sends them first).
 */
import { walkPath, type ReadableStorage } from 'ipfs-unixfs-exporter'
import type { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import { AbortedError, InvalidArgumentError, NotUnixFsError, PathNotFoundError } from '../errors.ts'
import { multihashKey, type AbortOptions, type BlockSource } from './blocks.ts'

export interface PathBlock {
  cid: CID
  bytes: Uint8Array
}

export interface ResolvedPath {
  /** what the path names (the root itself for an empty path) */
  cid: CID
  /** the blocks read to resolve the path, in order, each once: the root, the directories and HAMT shards on the way; not the terminal's own block */
  blocks: PathBlock[]
}

/** Path segments from `a/b/c` (leading, trailing and doubled slashes ignored) or a list of names. */
export function pathSegments (path: string | string[] | undefined): string[] {
  if (path == null) return []
  const segments = typeof path === 'string' ? path.split('/').filter(s => s !== '') : path
  for (const s of segments) {
    if (s === '' || s === '.' || s === '..' || s.includes('/') || s.includes('\0')) {
      throw new InvalidArgumentError(`Invalid path segment ${JSON.stringify(s)}: a segment is one entry name`)
    }
    // walkPath reads "\/" as an escaped slash inside a name
    if (s.endsWith('\\')) throw new InvalidArgumentError(`Invalid path segment ${JSON.stringify(s)}: shoal cannot resolve a name ending in a backslash`)
  }
  return segments
}

/**
 * Resolve `root` + `path` to the CID it names. Errors: PathNotFoundError
 * when an entry is missing (or the path goes on below a file), NotUnixFsError
 * for a node that cannot be walked; what the source throws
 * (BlockNotFoundError, ...) passes through unchanged.
 */
export async function resolvePath (root: CID, path: string | string[] | undefined, source: BlockSource, options: AbortOptions = {}): Promise<ResolvedPath> {
  const segments = pathSegments(path)
  if (segments.length === 0) return { cid: root, blocks: [] }
  const blocks: PathBlock[] = []
  const read = new Set<string>()
  const fromSource = new WeakSet<object>()
  const get = async (cid: CID): Promise<Uint8Array> => {
    if (cid.multihash.code === identity.code) return cid.multihash.digest
    try {
      const bytes = await source.get(cid, options)
      const key = multihashKey(cid)
      if (!read.has(key)) {
        read.add(key)
        blocks.push({ cid, bytes })
      }
      return bytes
    } catch (err) {
      if (typeof err === 'object' && err != null) fromSource.add(err)
      throw err
    }
  }
  const storage: ReadableStorage = { get: (cid: CID) => (async function * () { yield await get(cid) })() }
  const text = `${root}/${segments.join('/')}`
  let cid = root
  try {
    for await (const entry of walkPath(text, storage, { signal: options.signal })) cid = entry.cid
  } catch (err) {
    if (typeof err === 'object' && err != null && fromSource.has(err)) throw err
    if (options.signal?.aborted === true) throw new AbortedError()
    const e = err as { name?: string, message?: string }
    if (e.name === 'NotFoundError' || e.name === 'NoResolverError') {
      throw new PathNotFoundError(text, `Cannot resolve "${text}": ${e.message ?? 'no such entry'}`, { cause: err })
    }
    throw new NotUnixFsError(root.toString(), `Cannot resolve "${text}": ${e.message ?? String(err)}`, { cause: err })
  }
  return { cid, blocks }
}
