/**
 * The balanced file layout (Kubo's default: leaves grouped `maxChildrenPerNode`
 * at a time under parents, parents grouped again, up to one root), building
 * the very same tree as ipfs-unixfs-importer's `balanced`, but holding no file
 * bytes while it waits for a group to fill.
 *
 * The importer's layout keeps every result until its group is reduced: with
 * dag-pb leaves (CIDv0) each leaf result holds its chunk (`unixfs.data`), so up
 * to 174 chunks (43.5 MiB at 256 KiB, more with larger chunks) stay in memory
 * per file; and every finished parent keeps its encoded block and block sizes
 * until the end, which grows with the file. The reducer only needs a leaf's
 * data length and a parent's file size, so results are slimmed before they
 * are kept: the data becomes a view of a shared zero buffer of the same
 * length, a parent's UnixFS a single block size with the same total, and
 * encoded blocks are dropped. A single-block file is left untouched (the
 * reducer turns it into the root itself).
 */
import { UnixFS } from 'ipfs-unixfs'
import type { InProgressImportResult } from 'ipfs-unixfs-importer'
import type { FileLayout, Reducer } from 'ipfs-unixfs-importer/layout'

/** Never written: views of it stand in for chunk data whose length is all the reducer reads. */
const ZEROS = new Uint8Array(1024 * 1024)

export function balancedLayout (maxChildrenPerNode: number): FileLayout {
  if (!Number.isSafeInteger(maxChildrenPerNode) || maxChildrenPerNode < 2) {
    throw new RangeError(`maxChildrenPerNode must be an integer >= 2, got ${maxChildrenPerNode}`)
  }
  return async function layout (source: AsyncIterable<InProgressImportResult> | Iterable<InProgressImportResult>, reduce: Reducer): Promise<InProgressImportResult> {
    const level: InProgressImportResult[] = []
    let last: InProgressImportResult | undefined
    let group: InProgressImportResult[] = []
    const close = async (): Promise<void> => {
      const node = await reduce(group)
      group = []
      if (last != null) level.push(slim(last))
      last = node
    }
    for await (const item of source) {
      group.push(slim(item))
      if (group.length === maxChildrenPerNode) await close()
    }
    if (group.length > 0) await close()
    if (last == null) throw new Error('Nothing to lay out')
    if (level.length === 0) return last
    level.push(slim(last))
    return await layout(level, reduce)
  }
}

/** What the reducer needs of a result, without the bytes. */
export function slim (item: InProgressImportResult): InProgressImportResult {
  if ('single' in item && item.single === true) return item
  const out: InProgressImportResult = { ...item }
  if ('block' in out) (out as { block?: Uint8Array }).block = undefined
  const unixfs = item.unixfs
  if (unixfs != null) {
    const data = unixfs.data
    if (data != null && data.length > 0) {
      if (data.length <= ZEROS.length && data.buffer !== ZEROS.buffer) {
        out.unixfs = new UnixFS({ type: unixfs.type as 'file' | 'raw', data: ZEROS.subarray(0, data.length) })
      }
    } else if (data == null && unixfs.blockSizes.length > 1) {
      out.unixfs = new UnixFS({ type: 'file', blockSizes: [unixfs.fileSize()] })
    }
  }
  return out
}
