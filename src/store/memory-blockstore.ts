/**
 * A Blockstore in memory, for tests. Same semantics as the file store:
 * keyed by multihash, verified on put and on get, corrupted blocks (made with
 * `tamper`) are quarantined and never served, `list()` reports CIDv1 raw.
 */
import type { CID } from 'multiformats/cid'
import { verifyBlock } from '../content/blocks.ts'
import { BlockNotFoundError, CorruptBlockError } from '../errors.ts'
import {
  blockKey, cidFromKey, isIdentity, putManyWith, throwIfAborted, verifyForPut,
  type AbortOptions, type Block, type BlockInfo, type Blockstore, type PutManyOptions, type PutOptions
} from './blockstore.ts'

export interface MemoryBlockstoreInit {
  onCorrupt?(cid: CID, key: string): void
}

export class MemoryBlockstore implements Blockstore {
  readonly #blocks = new Map<string, Uint8Array>()
  /** Corrupted blocks taken out of service, by key. */
  readonly quarantined = new Map<string, Uint8Array>()
  readonly #onCorrupt?: (cid: CID, key: string) => void

  constructor (init: MemoryBlockstoreInit = {}) {
    this.#onCorrupt = init.onCorrupt
  }

  async put (cid: CID, bytes: Uint8Array, options: PutOptions = {}): Promise<void> {
    throwIfAborted(options.signal, `Storing block "${cid}"`)
    await verifyForPut(cid, bytes, options)
    if (isIdentity(cid)) return
    const key = blockKey(cid)
    if (!this.#blocks.has(key)) this.#blocks.set(key, bytes.slice())
  }

  async putMany (blocks: Iterable<Block> | AsyncIterable<Block>, options: PutManyOptions = {}): Promise<void> {
    await putManyWith(async (cid, bytes, opts) => { await this.put(cid, bytes, opts) }, blocks, options)
  }

  async get (cid: CID, options: AbortOptions = {}): Promise<Uint8Array> {
    throwIfAborted(options.signal, `Reading block "${cid}"`)
    if (isIdentity(cid)) return cid.multihash.digest
    const key = blockKey(cid)
    const bytes = this.#blocks.get(key)
    if (bytes == null) throw new BlockNotFoundError(cid.toString())
    if (!await verifyBlock(cid, bytes)) {
      this.#blocks.delete(key)
      this.quarantined.set(key, bytes)
      this.#onCorrupt?.(cid, key)
      throw new CorruptBlockError(cid.toString(), `Block "${cid}" is corrupted in memory (its bytes do not match its CID); quarantined`)
    }
    return bytes.slice()
  }

  async has (cid: CID, options: AbortOptions = {}): Promise<boolean> {
    throwIfAborted(options.signal, `Looking up block "${cid}"`)
    return isIdentity(cid) || this.#blocks.has(blockKey(cid))
  }

  async delete (cid: CID, options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal, `Deleting block "${cid}"`)
    this.#blocks.delete(blockKey(cid))
  }

  async * list (options: AbortOptions = {}): AsyncGenerator<BlockInfo> {
    for (const [key, bytes] of [...this.#blocks]) {
      throwIfAborted(options.signal, 'Listing blocks')
      yield { cid: cidFromKey(key), size: bytes.length }
    }
  }

  async sync (options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal, 'Syncing the block store')
  }

  /** Tests: replace a stored block's bytes without verification (simulated bit rot). */
  tamper (cid: CID, bytes: Uint8Array): void {
    this.#blocks.set(blockKey(cid), bytes)
  }
}
