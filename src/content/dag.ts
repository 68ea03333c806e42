/**
 * Walking a DAG block by block through a BlockSource (local store or the
 * network), whatever it encodes: every block once, parents before children.
 */
import type { CID } from 'multiformats/cid'
import { childLinks, multihashKey } from './blocks.ts'
import type { AbortOptions, BlockSource } from './blocks.ts'

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
