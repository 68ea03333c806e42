import fs from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import type { CID } from 'multiformats/cid'

/**
 * Overwrite a stored block's bytes where the store keeps them (a flat file,
 * or its place in a segment) with as many random bytes, as a bad disk would.
 */
export async function corruptBlock (store: { locate(cid: CID): { file: string, offset: number, length: number } | undefined }, cid: CID): Promise<void> {
  const where = store.locate(cid)
  if (where == null) throw new Error(`block ${cid} is not stored`)
  const handle = await fs.open(where.file, 'r+')
  try {
    await handle.write(randomBytes(where.length), 0, where.length, where.offset)
  } finally {
    await handle.close()
  }
}
