/**
 * Walking a DAG block by block through a BlockSource (local store or the
 * network), whatever it encodes: every block once, parents before children.
 * `walkStructure` reads only the blocks that can link to others, and lists
 * the leaves without reading them (what a replica count needs).
 * `depthFirst` keeps Kubo's order (CAR export, refs).
 */
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import type { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { childLinks, multihashKey } from './blocks.ts'
import type { AbortOptions, BlockSource } from './blocks.ts'
import { mapOrdered } from './exporter.ts'

export interface DagBlock {
  cid: CID
  size: number
}

/** Every distinct block of the DAG under `root` (by multihash), `concurrency` reads at a time. */
export async function * walkDag (root: CID, source: BlockSource, options: AbortOptions & { concurrency?: number } = {}): AsyncGenerator<DagBlock, void, undefined> {
  const seen = new Set<string>([multihashKey(root)])
  const queue: CID[] = [root]
  const concurrency = Math.max(1, options.concurrency ?? 16)
  while (queue.length > 0) {
    const batch = queue.splice(0, concurrency)
    const blocks = await Promise.all(batch.map(async cid => ({ cid, bytes: await source.get(cid, options) })))
    for (const { cid, bytes } of blocks) {
      yield { cid, size: bytes.byteLength }
      for (const link of childLinks(cid, bytes)) {
        const key = multihashKey(link)
        if (!seen.has(key)) {
          seen.add(key)
          queue.push(link)
        }
      }
    }
  }
}

/**
 * A dag-pb leaf of a UnixFS file is its data plus at most this many bytes of
 * framing (PBNode Data field, UnixFS type, data and filesize fields: about
 * 20 for a 2 MiB leaf); a node with links is larger than its data by at
 * least one link (~40 bytes). So a link whose Tsize exceeds its blockSize
 * by no more than this points at a leaf.
 */
const LEAF_FRAMING_MAX = 32

export interface StructureBlock {
  cid: CID
  /** false for a leaf listed from its parent without being read */
  read: boolean
}

/**
 * Every distinct block of the DAG under `root` (by multihash), reading only
 * the blocks that may have links: raw blocks are leaves by their codec, and
 * the dag-pb leaves of a UnixFS file are known from their parent (each
 * link's Tsize against the file node's blockSizes). For a file of raw
 * leaves that is one block in 175; a leaf misjudged as a node is read, which
 * costs only time.
 */
export async function * walkStructure (root: CID, source: BlockSource, options: AbortOptions & { concurrency?: number } = {}): AsyncGenerator<StructureBlock, void, undefined> {
  const seen = new Set<string>([multihashKey(root)])
  const queue: StructureBlock[] = [{ cid: root, read: root.code !== raw.code }]
  const concurrency = Math.max(1, options.concurrency ?? 16)
  while (queue.length > 0) {
    const batch = queue.splice(0, concurrency)
    const blocks = await Promise.all(batch.map(async b => ({ ...b, bytes: b.read ? await source.get(b.cid, options) : undefined })))
    for (const { cid, read, bytes } of blocks) {
      yield { cid, read }
      if (bytes == null) continue
      for (const child of children(cid, bytes)) {
        const key = multihashKey(child.cid)
        if (!seen.has(key)) {
          seen.add(key)
          queue.push(child)
        }
      }
    }
  }
}

/** The links of a block read, each marked with whether it must be read to find more. */
function children (cid: CID, bytes: Uint8Array): StructureBlock[] {
  if (cid.code !== dagPb.code) return childLinks(cid, bytes).map(link => ({ cid: link, read: link.code !== raw.code }))
  const node = dagPb.decode(bytes)
  let blockSizes: bigint[] | undefined
  try {
    const unixfs = node.Data == null ? undefined : UnixFS.unmarshal(node.Data)
    if (unixfs?.type === 'file' && unixfs.blockSizes.length === node.Links.length) blockSizes = unixfs.blockSizes
  } catch {
    // not UnixFS: every dag-pb child is read
  }
  return node.Links.map((link, i) => {
    if (link.Hash.code === raw.code) return { cid: link.Hash, read: false }
    const leaf = blockSizes != null && link.Tsize != null && link.Tsize - Number(blockSizes[i]) <= LEAF_FRAMING_MAX
    return { cid: link.Hash, read: !leaf }
  })
}

export interface DepthFirstOptions extends AbortOptions {
  /** visit each block once (by multihash): a block met again is skipped with its subtree (default true) */
  unique?: boolean
  /** follow links at most this deep (the root is depth 0; default: no limit) */
  maxDepth?: number
  /**
   * read only the blocks whose links are followed (refs): raw blocks and the
   * blocks at `maxDepth` are visited without bytes. Default false: every
   * block is read (export).
   */
  linksOnly?: boolean
  /** blocks read ahead per level of the DAG, in order (default 8) */
  concurrency?: number
}

export interface VisitedBlock {
  cid: CID
  /** the root is 0 */
  depth: number
  /** absent only with `linksOnly` */
  bytes?: Uint8Array
}

/**
 * The blocks of the DAG under `root` depth first, parents before children,
 * links in their order (the order of Kubo's `ipfs dag export` and `ipfs refs
 * -r`). The children of a node are read ahead (`concurrency` per level),
 * so a network source streams; what is yielded stays in order.
 */
export async function * depthFirst (root: CID, source: BlockSource, options: DepthFirstOptions = {}): AsyncGenerator<VisitedBlock, void, undefined> {
  const unique = options.unique !== false
  const maxDepth = options.maxDepth ?? Infinity
  const concurrency = Math.max(1, options.concurrency ?? 8)
  const seen = new Set<string>()
  const read = async (cid: CID, depth: number): Promise<Uint8Array | undefined> => {
    if (options.linksOnly === true && (cid.code === raw.code || depth >= maxDepth)) return undefined
    if (unique && seen.has(multihashKey(cid))) return undefined // met before: skipped when its turn comes
    if (cid.multihash.code === identity.code) return cid.multihash.digest
    return await source.get(cid, options)
  }
  async function * visit (cid: CID, bytes: Uint8Array | undefined, depth: number): AsyncGenerator<VisitedBlock, void, undefined> {
    yield { cid, depth, bytes }
    if (bytes == null || depth >= maxDepth) return
    const children = mapOrdered(childLinks(cid, bytes), async link => ({ link, bytes: await read(link, depth + 1) }), concurrency)
    for await (const child of children) {
      if (unique) {
        const key = multihashKey(child.link)
        if (seen.has(key)) continue
        seen.add(key)
      }
      yield * visit(child.link, child.bytes, depth + 1)
    }
  }
  const rootBytes = await read(root, 0)
  seen.add(multihashKey(root))
  yield * visit(root, rootBytes, 0)
}
