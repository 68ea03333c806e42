/**
 * The one Blockstore interface of shoal, and the small helpers its
 * implementations share. A blockstore is keyed by multihash: a CIDv0 and a
 * CIDv1 (of any codec) with the same multihash name the same bytes, so they
 * are one block. Every block is verified against its CID on the way in (put)
 * and on the way out (get); a block that no longer matches is quarantined by
 * the implementation and never served.
 */
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { base32upper } from 'multiformats/bases/base32'
import * as Digest from 'multiformats/hashes/digest'
import { identity } from 'multiformats/hashes/identity'
import { sha256 } from 'multiformats/hashes/sha2'
import { verifyBlock } from '../content/blocks.ts'
import { AbortedError, CorruptBlockError } from '../errors.ts'
import type { AbortOptions, BlockSink, BlockSource } from '../content/blocks.ts'

export type { AbortOptions }

/** A block as `list()` reports it. */
export interface BlockInfo {
  /**
   * The block's CID. Stores keyed by multihash (the file store) do not keep
   * the codec: they report `CIDv1(raw, multihash)`. Compare by
   * `cid.multihash.bytes`, never by CID string.
   */
  cid: CID
  /** Size of the block's bytes. */
  size: number
}

export interface PutOptions extends AbortOptions {
  /**
   * These very bytes were already hashed against `cid` in this process
   * (the importer computed the CID from them; a protocol client verified a
   * received block): put skips its own hash, so each block is hashed once.
   * Reads still verify, so a wrong claim is caught at the first `get` and
   * the block quarantined. Never set it for bytes nothing in this process
   * has hashed (straight from a peer, a file on disk, a user).
   */
  verified?: boolean
}

export interface GetOptions extends AbortOptions {
  /**
   * false: do not hash the bytes read; only for bytes handed to a receiver
   * that verifies them itself (a block served to a peer). Scrub covers the
   * disk. Default true.
   */
  verify?: boolean
}

export interface PutManyOptions extends PutOptions {
  /** How many puts run at once (default 32). */
  concurrency?: number
}

export interface Block {
  cid: CID
  bytes: Uint8Array
}

export interface Blockstore extends BlockSink, BlockSource {
  /**
   * Verify `bytes` against `cid` (refused with CorruptBlockError when they do
   * not match, UnsupportedError for an unknown hash function) and store them.
   * Idempotent: putting a block that is present does nothing. When put
   * resolves, the bytes are in place under the block's final name (and, in a
   * durable store, on disk); the name itself is durable after `sync()`.
   */
  put(cid: CID, bytes: Uint8Array, options?: PutOptions): Promise<void>
  /** put keeps no reference to the bytes once it resolves (it copied them to disk) */
  readonly keepsNoBytes?: boolean
  /** Puts many blocks with bounded concurrency; rejects on the first failure. */
  putMany(blocks: Iterable<Block> | AsyncIterable<Block>, options?: PutManyOptions): Promise<void>
  /**
   * Verified bytes of a block. BlockNotFoundError when absent,
   * CorruptBlockError when the stored bytes no longer match (the block is
   * then quarantined: later calls answer BlockNotFoundError).
   */
  get(cid: CID, options?: GetOptions): Promise<Uint8Array>
  /** Whether a block is stored (not verified: `get` does that). */
  has(cid: CID, options?: AbortOptions): Promise<boolean>
  /** Remove a block; removing an absent block is not an error. */
  delete(cid: CID, options?: AbortOptions): Promise<void>
  /** Every stored block, in no particular order. */
  list(options?: AbortOptions): AsyncIterable<BlockInfo>
  /**
   * Make everything put (and deleted) so far durable: the directory entries
   * written since the last sync are fsynced. Called once per add.
   */
  sync(options?: AbortOptions): Promise<void>
  /** Where a block's bytes are on disk (tests and tools), when the store knows. */
  locate?(cid: CID): { file: string, offset: number, length: number } | undefined
  /** Reclaim the space of deleted blocks (stores that only mark them dead). */
  compact?(options?: AbortOptions): Promise<unknown>
  /** Make everything durable and let go of open files. */
  close?(): Promise<void>
}

/** The key of a block: its multihash, base32 upper case without padding (Kubo's flatfs key). */
export function blockKey (cid: CID): string {
  return base32upper.baseEncode(cid.multihash.bytes)
}

/** The CID `list()` reports for a key: CIDv1 raw over the key's multihash. */
export function cidFromKey (key: string): CID {
  return CID.createV1(raw.code, Digest.decode(base32upper.baseDecode(key)))
}

/**
 * The put-side check: verify `bytes` against `cid` unless the caller vouches
 * for them (`verified`, sha2-256 only: other hash functions are always
 * checked, which refuses those shoal cannot verify).
 */
export async function verifyForPut (cid: CID, bytes: Uint8Array, options: PutOptions): Promise<void> {
  if (options.verified === true && cid.multihash.code === sha256.code) return
  if (!await verifyBlock(cid, bytes)) {
    throw new CorruptBlockError(cid.toString(), `Refusing to store block "${cid}": its bytes do not hash to its CID`)
  }
}

/** Identity CIDs carry their bytes inline: nothing to store or read. */
export function isIdentity (cid: CID): boolean {
  return cid.multihash.code === identity.code
}

export function throwIfAborted (signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted === true) throw new AbortedError(`${what} was aborted`)
}

/** A generic putMany over `put`, for implementations with nothing better. */
export async function putManyWith (
  put: (cid: CID, bytes: Uint8Array, options?: PutOptions) => Promise<void>,
  blocks: Iterable<Block> | AsyncIterable<Block>,
  options: PutManyOptions = {}
): Promise<void> {
  const concurrency = Math.max(1, options.concurrency ?? 32)
  const inFlight = new Set<Promise<void>>()
  let failure: { err: unknown } | undefined
  for await (const { cid, bytes } of blocks) {
    if (failure != null) break
    throwIfAborted(options.signal, 'Storing blocks')
    const p: Promise<void> = put(cid, bytes, { signal: options.signal, verified: options.verified })
      .catch(err => { failure ??= { err } })
      .finally(() => { inFlight.delete(p) })
    inFlight.add(p)
    if (inFlight.size >= concurrency) await Promise.race(inFlight)
  }
  await Promise.all(inFlight)
  if (failure != null) throw failure.err
}
