/**
 * `CID/dir/file` and `/ipfs/CID/dir/file`: parsing such a path (once, into
 * a ContentPath), and the CID it names below its root, through UnixFS
 * directories (HAMT shards included), with ipfs-unixfs-exporter's walkPath.
 * The blocks read on the way are kept, in order: they are what a client
 * needs to verify the path itself (a trustless CAR sends them first).
 */
import * as dagPb from '@ipld/dag-pb'
import { walkPath, type ReadableStorage } from 'ipfs-unixfs-exporter'
import { UnixFS } from 'ipfs-unixfs'
import type { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { AbortedError, InvalidArgumentError, NotUnixFsError, PathNotFoundError } from '../errors.ts'
import { multihashKey, parseCid, type AbortOptions, type BlockSource } from './blocks.ts'

/** What names content: a root CID and entry names below it (each checked by pathSegments). */
export interface ContentPath {
  root: CID
  path: string[]
}

const IPFS_PREFIX = '/ipfs/'

/**
 * `CID`, `CID/a/b` or `/ipfs/CID/a/b` (a trailing slash allowed). Names are
 * taken as they are (no percent-decoding). InvalidCidError for the CID,
 * InvalidArgumentError for a malformed path: an empty segment (a doubled
 * slash), `.`, `..`, a NUL, or a leading slash without `/ipfs/`.
 */
export function parseContentPath (text: string): ContentPath {
  const rest = text.startsWith(IPFS_PREFIX) ? text.slice(IPFS_PREFIX.length) : text
  if (rest.startsWith('/')) throw new InvalidArgumentError(`Invalid path "${text}": expected CID[/path] or /ipfs/CID[/path]`)
  return contentPathOf(rest.split('/'), text)
}

/** The path part of a URL, `CID/a%20b/c`: as parseContentPath, each segment percent-decoded on its own (so `%2F` is a slash inside a name: refused). */
export function contentPathFromUrl (urlPath: string): ContentPath {
  const parts = urlPath.split('/').map(segment => {
    try {
      return decodeURIComponent(segment)
    } catch {
      throw new InvalidArgumentError(`Invalid path segment "${segment}": a malformed percent-encoding`)
    }
  })
  return contentPathOf(parts, urlPath)
}

function contentPathOf (parts: string[], text: string): ContentPath {
  const [first, ...names] = parts
  if (names.at(-1) === '') names.pop()
  if (names.includes('')) throw new InvalidArgumentError(`Invalid path "${text}": it has an empty segment (a doubled slash)`)
  return { root: parseCid(first), path: pathSegments(names) }
}

/** `CID/a%20b`: the path in a URL, each segment percent-encoded (contentPathFromUrl reads it back). */
export function contentPathUrl (p: ContentPath): string {
  return [p.root.toString(), ...p.path].map(encodeURIComponent).join('/')
}

/** The name `ipfs get` gives what a path names: its last segment, else the CID. */
export function contentPathName (p: ContentPath): string {
  return p.path.at(-1) ?? p.root.toString()
}

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
  let reached = root.toString()
  let remainder = segments
  try {
    for await (const entry of walkPath(text, storage, { signal: options.signal })) {
      cid = entry.cid
      reached = entry.path
      remainder = entry.remainder
    }
  } catch (err) {
    if (typeof err === 'object' && err != null && fromSource.has(err)) throw err
    if (options.signal?.aborted === true) throw new AbortedError()
    const kind = notADirectory(cid, blocks)
    if (kind != null) {
      throw new PathNotFoundError(text, `Cannot resolve "${text}": "${reached}" is a ${kind}, not a directory`, { cause: err })
    }
    const e = err as { name?: string, message?: string }
    if (e.name === 'NotFoundError' || e.name === 'NoResolverError') {
      throw new PathNotFoundError(text, `Cannot resolve "${text}": ${e.message ?? 'no such entry'}`, { cause: err })
    }
    throw new NotUnixFsError(root.toString(), `Cannot resolve "${text}": ${e.message ?? String(err)}`, { cause: err })
  }
  // walkPath ends without an error when the last segment names something below a file or a symlink
  if (remainder.length > 0) {
    throw new PathNotFoundError(text, `Cannot resolve "${text}": "${reached}" is a ${notADirectory(cid, blocks) ?? 'file'}, not a directory`)
  }
  return { cid, blocks }
}

/** 'file' or 'symlink' when the block `cid` (read on the way) is one: a path cannot go on below it; undefined otherwise. */
function notADirectory (cid: CID, blocks: PathBlock[]): 'file' | 'symlink' | undefined {
  if (cid.code === raw.code) return 'file'
  const bytes = cid.code === dagPb.code ? blocks.find(b => b.cid.equals(cid))?.bytes : undefined
  if (bytes == null) return undefined
  try {
    const node = dagPb.decode(bytes)
    if (node.Data == null) return undefined
    const type = UnixFS.unmarshal(node.Data).type
    return type === 'file' || type === 'raw' ? 'file' : type === 'symlink' ? 'symlink' : undefined
  } catch {
    return undefined
  }
}
