/**
 * Building a file's DAG from its chunks: leaves, then Kubo's balanced layout
 * (leaves grouped `maxChildrenPerNode` at a time under parents, parents
 * grouped again, up to one root), given to the importer as its
 * `fileBuilder`. It makes the very same blocks as ipfs-unixfs-importer's
 * default file builder (`balanced` layout, its reducer, its buffer importer)
 * wherever that one is right: whenever no file size or block size of a node
 * lies in [2^31, 2^32).
 *
 * Why not the importer's own: its UnixFS nodes are encoded by ipfs-unixfs
 * (13.1.1) with protons-runtime (7.1.2), whose uint64 writer is wrong for
 * every value in [2^31, 2^32): `LongBits` keeps its low word as a signed
 * int32 (`lo | 0`), so the varint writer's `while (lo > 127)` loop never runs
 * for a negative `lo` and writes one byte where it reserved five; the other
 * four are whatever the writer's uninitialized buffer held. So any file node
 * whose file size or one of whose block sizes lies between 2 GiB and 4 GiB
 * (the root of every file of 2 to 4 GiB; in larger files, any subtree of
 * that size) gets a garbled `Data`: a different CID from run to run, and a
 * node readers reject ("index out of range", or an illegal field 0) or
 * misread (file size 0, when the stale bytes happen to be zeros).
 * The importer's own balanced path has the bug too (its reducer calls
 * `UnixFS.marshal()`); values below 2^31 or from 2^32 on are encoded right.
 * Here file nodes are encoded by `encodeFileData` below instead, byte for byte
 * what `UnixFS.marshal()` gives where it is right.
 *
 * It also fixes a second flaw of the importer's reducer: a single-chunk file
 * with a mode or mtime and dag-pb leaves (CIDv0) became a node whose data was
 * the encoded leaf block instead of the chunk, so reading it gave protobuf
 * bytes. Here its data is the chunk, as with raw leaves.
 *
 * Memory: a chunk is hashed and handed to the sink, and nothing of it is kept
 * (but the first one, until a second shows the file is not a single block);
 * the layout keeps, per level of the tree, the children of the node being
 * filled (at most `maxChildrenPerNode` each, just a CID and two sizes), so a
 * file of any size takes a few KiB. The leaves are written one after another,
 * in file order, through the blockstore the importer passes (the import's
 * sliding write window, see importer.ts).
 */
import * as dagPb from '@ipld/dag-pb'
import { UnixFS, type Mtime } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import type { ImporterOptions, InProgressImportResult } from 'ipfs-unixfs-importer'
import type { Digest } from 'multiformats/hashes/digest'

type FileBuilder = NonNullable<ImporterOptions['fileBuilder']>

export interface BalancedFileBuilderOptions {
  /** links per node (Kubo: 174) */
  maxChildrenPerNode: number
  /** raw leaves (CIDv1 raw blocks) or dag-pb leaves holding UnixFS {type: file, data} */
  rawLeaves: boolean
  /** of the dag-pb nodes (raw leaves are always CIDv1) */
  cidVersion: 0 | 1
}

/** What a parent needs of a child: its link and the file bytes below it. */
interface Child {
  cid: CID
  /** the link's Tsize: the child's block plus everything below it */
  tsize: number
  /** file bytes below the child (its entry in the parent's blocksizes) */
  bytes: number
}

interface ParentNode extends Child {
  blockSizes: number[]
}

/**
 * The importer's `fileBuilder`: chunks (`file.content`, already cut by the
 * chunker) to leaves, leaves to a balanced tree; returns the root as the
 * importer's file builder does.
 */
export function balancedFileBuilder (opts: BalancedFileBuilderOptions): FileBuilder {
  const { maxChildrenPerNode, rawLeaves, cidVersion } = opts
  if (!Number.isSafeInteger(maxChildrenPerNode) || maxChildrenPerNode < 2) {
    throw new RangeError(`maxChildrenPerNode must be an integer >= 2, got ${maxChildrenPerNode}`)
  }
  return async function buildFile (file, blockstore, options): Promise<InProgressImportResult> {
    const encodeOptions = options.fieldOrder == null ? undefined : { fieldOrder: options.fieldOrder }
    const putOptions = options.signal == null ? undefined : { signal: options.signal }
    const metadata = { mode: file.mode, mtime: file.mtime }
    const hasMetadata = file.mode !== undefined || file.mtime !== undefined

    const put = async (code: number, block: Uint8Array): Promise<CID> => {
      const cid = code === raw.code
        ? CID.createV1(raw.code, digestSync(block))
        : CID.create(cidVersion, dagPb.code, digestSync(block))
      await blockstore.put(cid, block, putOptions)
      return cid
    }

    /** the last parent made (in the end, the root) */
    let last: ParentNode | undefined
    /** A parent over `children` (those holding no bytes are left out, as the importer does). */
    const parent = async (children: Child[]): Promise<ParentNode> => {
      const kept = children.filter(c => c.bytes > 0)
      const blockSizes = kept.map(c => c.bytes)
      const node = dagPb.prepare({
        Data: encodeFileData({ blockSizes, ...metadata }),
        Links: kept.map(c => ({ Name: '', Tsize: c.tsize, Hash: c.cid }))
      })
      const block = dagPb.encode(node, encodeOptions)
      const cid = await put(dagPb.code, block)
      last = { cid, tsize: block.length + sum(kept.map(c => c.tsize)), bytes: sum(blockSizes), blockSizes }
      return last
    }

    // levels[0] holds leaves, levels[i] parents of height i; each is the node being filled
    const levels: Child[][] = [[]]
    const add = async (height: number, child: Child): Promise<void> => {
      const level = levels[height]
      level.push(child)
      if (level.length < maxChildrenPerNode) return
      levels[height] = []
      if (levels.length === height + 1) levels.push([])
      const node = await parent(level)
      await add(height + 1, { cid: node.cid, tsize: node.tsize, bytes: node.bytes })
    }

    let count = 0
    let first: { child: Child, chunk: Uint8Array, unixfs?: UnixFS } | undefined
    for await (const chunk of file.content) {
      let child: Child
      let unixfs: UnixFS | undefined
      if (rawLeaves) {
        child = { cid: await put(raw.code, chunk), tsize: chunk.length, bytes: chunk.length }
      } else {
        const block = dagPb.encode({ Data: encodeFileData({ data: chunk }), Links: [] }, encodeOptions)
        child = { cid: await put(dagPb.code, block), tsize: block.length, bytes: chunk.length }
        if (count === 0) unixfs = new UnixFS({ type: 'file', data: chunk })
      }
      count++
      if (count === 1) {
        // kept until we know whether the file has a second chunk (the importer does the same)
        first = { child, chunk, unixfs }
        continue
      }
      if (first != null) {
        await add(0, first.child)
        first = undefined
      }
      await add(0, child)
    }

    const result = (cid: CID, size: number, unixfs?: UnixFS): InProgressImportResult =>
      ({ cid, size: BigInt(size), path: file.path, unixfs, originalPath: file.originalPath })

    if (first != null) {
      // a file of one chunk (an empty file is one empty chunk)
      if (options.reduceSingleLeafToSelf) {
        if (!hasMetadata) return result(first.child.cid, first.child.tsize, first.unixfs)
        // the metadata needs a UnixFS node: the chunk becomes its data
        const block = dagPb.encode(dagPb.prepare({ Data: encodeFileData({ data: first.chunk, ...metadata }), Links: [] }), encodeOptions)
        const cid = await put(dagPb.code, block)
        return result(cid, block.length, new UnixFS({ type: 'file', data: first.chunk, ...metadata }))
      }
      await add(0, first.child)
    }
    if (count === 0) throw new Error('The chunker gave no chunk (it gives one empty chunk for an empty file)')

    // close the nodes being filled, bottom up; the root is the one node left
    // on the top level (the last parent made), or the parent of that level
    for (let height = 0; ; height++) {
      const level = levels[height]
      if (height === levels.length - 1) {
        const root = level.length === 1 && height > 0 ? last : await parent(level)
        if (root == null) throw new Error('No root node was made')
        return result(root.cid, root.tsize, new UnixFS({ type: 'file', blockSizes: root.blockSizes.map(BigInt), ...metadata }))
      }
      if (level.length === 0) continue
      levels[height] = []
      const node = await parent(level)
      await add(height + 1, { cid: node.cid, tsize: node.tsize, bytes: node.bytes })
    }
  }
}

/** UnixFS `Data` of a file node, as ipfs-unixfs's `UnixFS.marshal()` encodes it, but right for every size (see the module comment). */
export function encodeFileData (f: { data?: Uint8Array, blockSizes?: readonly number[], mode?: number, mtime?: Mtime }): Uint8Array {
  const data = f.data != null && f.data.length > 0 ? f.data : undefined
  const blockSizes = f.blockSizes ?? []
  const fileSize = (data?.length ?? 0) + sum(blockSizes)
  // as UnixFS: the mode's permission bits, left out when they are the default 0644
  const mode = f.mode == null ? undefined : (f.mode & 0xFFF) === 0o644 ? undefined : f.mode & 0xFFF
  const secs = f.mtime == null ? undefined : BigInt.asUintN(64, BigInt(f.mtime.secs))
  const nsecs = f.mtime?.nsecs
  const mtimeLength = secs == null ? 0 : 1 + bigVarintLength(secs) + (nsecs == null ? 0 : 5)

  let length = 2 + 1 + varintLength(fileSize)
  if (data != null) length += 1 + varintLength(data.length) + data.length
  for (const b of blockSizes) length += 1 + varintLength(b)
  if (mode != null) length += 1 + varintLength(mode)
  if (secs != null) length += 1 + varintLength(mtimeLength) + mtimeLength

  const out = new Uint8Array(length)
  let pos = 0
  const varint = (n: number): void => {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`Cannot encode ${n} as an unsigned varint`)
    while (n > 127) {
      out[pos++] = (n % 128) | 128
      n = Math.floor(n / 128)
    }
    out[pos++] = n
  }
  out[pos++] = 0x08 // 1: Type
  out[pos++] = 2 // File
  if (data != null) {
    out[pos++] = 0x12 // 2: Data
    varint(data.length)
    out.set(data, pos)
    pos += data.length
  }
  out[pos++] = 0x18 // 3: filesize
  varint(fileSize)
  for (const b of blockSizes) {
    out[pos++] = 0x20 // 4: blocksizes (repeated, not packed)
    varint(b)
  }
  if (mode != null) {
    out[pos++] = 0x38 // 7: mode
    varint(mode)
  }
  if (secs != null) {
    out[pos++] = 0x42 // 8: mtime
    varint(mtimeLength)
    out[pos++] = 0x08 // 1: Seconds (int64: two's complement, 10 bytes when negative)
    let v = secs
    while (v > 127n) {
      out[pos++] = Number(v & 127n) | 128
      v >>= 7n
    }
    out[pos++] = Number(v)
    if (nsecs != null) {
      out[pos++] = 0x15 // 2: FractionalNanoseconds (fixed32)
      out[pos++] = nsecs & 255
      out[pos++] = (nsecs >>> 8) & 255
      out[pos++] = (nsecs >>> 16) & 255
      out[pos++] = (nsecs >>> 24) & 255
    }
  }
  if (pos !== length) throw new Error(`UnixFS encoding wrote ${pos} of ${length} bytes`)
  return out
}

function varintLength (n: number): number {
  let length = 1
  while (n > 127) {
    n = Math.floor(n / 128)
    length++
  }
  return length
}

function bigVarintLength (n: bigint): number {
  let length = 1
  while (n > 127n) {
    n >>= 7n
    length++
  }
  return length
}

function sum (ns: readonly number[]): number {
  let total = 0
  for (const n of ns) total += n
  return total
}

/** SHA-256 multihash; multiformats hashes with node:crypto, synchronously, under Node and Deno. */
export function digestSync (bytes: Uint8Array): Digest<typeof sha256.code, number> {
  const digest = sha256.digest(bytes)
  if (digest instanceof Promise) throw new Error('sha2-256 is expected to be synchronous here (multiformats on node:crypto)')
  return digest
}
