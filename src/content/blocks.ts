/**
 * What the content layer knows about single blocks: parsing CIDs with clear
 * errors, verifying bytes against a CID, and the links out of a block. The
 * storage interfaces the importer and exporter need are declared here
 * (structurally), so content/ depends on no store.
 */
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { sha256 } from 'multiformats/hashes/sha2'
import { InvalidCidError, UnsupportedError } from '../errors.ts'

/** The largest block shoal moves between peers (bitswap's limit too): CAR import and block put refuse larger ones. */
export const MAX_BLOCK_BYTES = 2 * 1024 * 1024

export interface AbortOptions {
  signal?: AbortSignal
}

/** Where imported blocks go. */
export interface BlockSink {
  put(cid: CID, bytes: Uint8Array, options?: AbortOptions): Promise<void>
}

/** Where exported blocks come from; `get` returns verified bytes or throws. */
export interface BlockSource {
  get(cid: CID, options?: AbortOptions): Promise<Uint8Array>
}

/** A string key for a block's identity: its multihash (v0 and v1 CIDs of the same bytes share it). */
export function multihashKey (cid: CID): string {
  return Buffer.from(cid.multihash.bytes).toString('base64')
}

/** A CID from text (CIDv0 "Qm...", or CIDv1 in base32 "b...", base36 "k..." or base58 "z..."); a clear error otherwise. */
export function parseCid (text: string): CID {
  const trimmed = text.trim()
  try {
    return CID.parse(trimmed)
  } catch (err) {
    throw new InvalidCidError(`Invalid CID "${trimmed.length > 100 ? trimmed.slice(0, 100) + '...' : trimmed}": ${whyNotACid(trimmed)}`, { cause: err })
  }
}

/** Why `text` is not a CID, in words a user can act on. */
function whyNotACid (text: string): string {
  if (text === '') return 'it is empty'
  if (text.startsWith('Qm') || text.startsWith('1')) return 'not a valid CIDv0 (46 characters of base58, starting with "Qm"): cut short, or a typo?'
  if (!'bBkKz'.includes(text[0])) {
    return `"${text[0]}" is not the prefix of an encoding shoal reads: a CID starts with "Qm" (v0), or "b" (base32), "k" (base36) or "z" (base58) for v1`
  }
  return 'its characters do not decode to a CID: cut short, or a typo?'
}

/** True when `bytes` hash to `cid`'s multihash. Throws for hash functions shoal does not verify. */
export async function verifyBlock (cid: CID, bytes: Uint8Array): Promise<boolean> {
  const { code, digest } = cid.multihash
  if (code === sha256.code) {
    const actual = await sha256.digest(bytes)
    return equalBytes(actual.digest, digest)
  }
  if (code === identity.code) return equalBytes(bytes, digest)
  throw new UnsupportedError(`Cannot verify block "${cid}": hash function 0x${code.toString(16)} is not supported (only sha2-256)`)
}

/** The CIDs a block links to: a dag-pb node's links; none for raw leaves. */
export function childLinks (cid: CID, bytes: Uint8Array): CID[] {
  if (cid.code === raw.code) return []
  if (cid.code === dagPb.code) return dagPb.decode(bytes).Links.map(l => l.Hash)
  throw new UnsupportedError(`Cannot read links of block "${cid}": codec 0x${cid.code.toString(16)} is not supported (only dag-pb and raw)`)
}

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
