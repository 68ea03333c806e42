import path from 'node:path'
import type { CID } from 'multiformats/cid'

/**
 * Where the default FsBlockstore under `dir` keeps a block, computed here
 * independently (RFC 4648 base32 of the multihash, next-to-last/2 shard).
 */
export function blockFile (dir: string, cid: CID): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  let bits = 0
  let value = 0
  let key = ''
  for (const byte of cid.multihash.bytes) {
    value = ((value << 8) | byte) & 0xffff
    bits += 8
    while (bits >= 5) {
      key += alphabet[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) key += alphabet[(value << (5 - bits)) & 31]
  return path.join(dir, 'blocks', key.slice(-3, -1), `${key}.data`)
}
