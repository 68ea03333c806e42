/**
 * Blocks on disk, one file per block:
 *
 *   <root>/blocks/SHARDING          "/repo/flatfs/shard/v1/next-to-last/2"
 *   <root>/blocks/<XY>/<KEY>.data   the block's bytes
 *   <root>/tmp/                     files being written (removed at open)
 *   <root>/quarantine/              blocks whose bytes stopped matching their CID
 *
 * KEY is the block's multihash in base32 upper case without padding, and XY
 * the two characters before its last one: Kubo's flatfs layout
 * (next-to-last/2, 1024 directories filled evenly; the last character of a
 * sha2-256 key carries only 2 bits). Keying by multihash rather than by CID
 * makes a CIDv0 and a CIDv1 of the same bytes share one file; the codec is
 * not kept, so `list()` reports CIDv1 raw.
 *
 * A put hashes the bytes once (verification against the CID), writes them to
 * a temp file, fdatasyncs it, and renames it to its final name: a final name
 * only ever holds complete, verified, durable bytes. The rename is made
 * durable by `sync()`, which fsyncs every directory touched since the last
 * sync (so an add of 1024 blocks pays one batch of directory fsyncs, not one
 * per block). Nothing reads a block back after writing it. Puts run
 * concurrently (bounded by `maxConcurrentWrites`) so the disk sees many
 * fsyncs at once, which the filesystem journal batches.
 *
 * One FsBlockstore per root at a time (the repo lock guarantees it across
 * processes): opening removes every temp file.
 */
import fs from 'node:fs/promises'
import fsSync, { constants as fsConstants } from 'node:fs'
import path from 'node:path'
import type { CID } from 'multiformats/cid'
import { verifyBlock } from '../content/blocks.ts'
import { AbortedError, BlockNotFoundError, CorruptBlockError, DiskFullError, RepoError } from '../errors.ts'
import {
  blockKey, cidFromKey, isIdentity, putManyWith, throwIfAborted, verifyForPut,
  type AbortOptions, type Block, type BlockInfo, type Blockstore, type GetOptions, type PutManyOptions, type PutOptions
} from './blockstore.ts'

export const SHARDING = '/repo/flatfs/shard/v1/next-to-last/2'
const EXTENSION = '.data'

export interface WriteTempFileOptions {
  /** fdatasync the file before returning. */
  fsync: boolean
}

export interface FsBlockstoreInit {
  /** The store's directory; `blocks/`, `tmp/` and `quarantine/` go under it. */
  root: string
  /** fsync files and directories (default true). Off only for benchmarks and throwaway stores. */
  fsync?: boolean
  /** How many block writes run at once (default 32). */
  maxConcurrentWrites?: number
  /** Called after a corrupted block was moved to the quarantine directory. */
  onCorrupt?(cid: CID, quarantinePath: string): void
  /**
   * Creates `file` (it must not exist) holding `bytes`. Defaults to
   * open(O_EXCL) + write + fdatasync + close; tests inject failures here.
   */
  writeTempFile?(file: string, bytes: Uint8Array, options: WriteTempFileOptions): Promise<void>
}

export class FsBlockstore implements Blockstore {
  /** put has written the bytes to their file when it resolves */
  readonly keepsNoBytes = true
  readonly root: string
  readonly blocksDir: string
  readonly tmpDir: string
  readonly quarantineDir: string
  readonly #fsync: boolean
  readonly #onCorrupt?: (cid: CID, quarantinePath: string) => void
  readonly #writeTempFile: (file: string, bytes: Uint8Array, options: WriteTempFileOptions) => Promise<void>
  readonly #writeSlots: Semaphore
  readonly #keyLocks = new KeyedLock()
  /** Shard directories known to exist. */
  readonly #knownDirs = new Set<string>()
  /** Directories whose entries changed since the last sync(). */
  #touched = new Set<string>()
  #tmpSeq = 0

  private constructor (init: FsBlockstoreInit) {
    this.root = path.resolve(init.root)
    this.blocksDir = path.join(this.root, 'blocks')
    this.tmpDir = path.join(this.root, 'tmp')
    this.quarantineDir = path.join(this.root, 'quarantine')
    this.#fsync = init.fsync ?? true
    this.#onCorrupt = init.onCorrupt
    this.#writeTempFile = init.writeTempFile ?? writeTempFile
    this.#writeSlots = new Semaphore(Math.max(1, init.maxConcurrentWrites ?? 32))
  }

  /** Creates the layout if needed, checks the sharding, and removes temp files left by a crash. */
  static async open (init: FsBlockstoreInit): Promise<FsBlockstore> {
    const store = new FsBlockstore(init)
    await store.#init()
    return store
  }

  async #init (): Promise<void> {
    for (const dir of [this.root, this.blocksDir, this.tmpDir, this.quarantineDir]) {
      await fs.mkdir(dir, { recursive: true })
    }
    // what a crash left in tmp/ was never renamed into place: drop it
    const stale = await fs.readdir(this.tmpDir)
    await Promise.all(stale.map(async name => { await fs.rm(path.join(this.tmpDir, name), { recursive: true, force: true }) }))
    const shardingFile = path.join(this.blocksDir, 'SHARDING')
    let sharding: string | undefined
    try {
      sharding = (await fs.readFile(shardingFile, 'utf8')).trim()
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    if (sharding == null) {
      const tmp = path.join(this.tmpDir, 'SHARDING')
      await writeTempFile(tmp, new TextEncoder().encode(SHARDING + '\n'), { fsync: this.#fsync })
      await fs.rename(tmp, shardingFile)
    } else if (sharding !== SHARDING) {
      throw new RepoError(`Cannot open the block store at ${this.blocksDir}: it is sharded as "${sharding}", shoal uses "${SHARDING}"`)
    }
    if (this.#fsync) {
      for (const dir of [this.tmpDir, this.quarantineDir, this.blocksDir, this.root]) await fsyncDir(dir)
    }
  }

  #shardDir (key: string): string {
    return path.join(this.blocksDir, key.slice(-3, -1))
  }

  locate (cid: CID): { file: string, offset: number, length: number } | undefined {
    const file = this.pathOf(cid)
    const size = fsSync.statSync(file, { throwIfNoEntry: false })?.size
    return size == null ? undefined : { file, offset: 0, length: size }
  }

  /** The final path of a block's file. */
  pathOf (cid: CID): string {
    const key = blockKey(cid)
    return path.join(this.#shardDir(key), key + EXTENSION)
  }

  async put (cid: CID, bytes: Uint8Array, options: PutOptions = {}): Promise<void> {
    throwIfAborted(options.signal, `Storing block "${cid}"`)
    await verifyForPut(cid, bytes, options)
    if (isIdentity(cid)) return
    const key = blockKey(cid)
    await this.#keyLocks.run(key, async () => {
      const dir = this.#shardDir(key)
      const file = path.join(dir, key + EXTENSION)
      // Present and complete: nothing to do. A file of another size (which
      // cannot happen through this code) is rewritten.
      const present = await sizeOf(file)
      if (present === bytes.length) return
      await this.#writeSlots.acquire(options.signal)
      try {
        throwIfAborted(options.signal, `Storing block "${cid}"`)
        await this.#write(cid, key, dir, file, bytes, options.signal)
      } finally {
        this.#writeSlots.release()
      }
    })
  }

  async #write (cid: CID, key: string, dir: string, file: string, bytes: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    const tmp = path.join(this.tmpDir, `${key}.${++this.#tmpSeq}`)
    let tmpCreated = false
    try {
      await this.#ensureDir(dir)
      tmpCreated = true
      await this.#writeTempFile(tmp, bytes, { fsync: this.#fsync })
      throwIfAborted(signal, `Storing block "${cid}"`)
      fsSync.renameSync(tmp, file)
      tmpCreated = false
    } catch (err) {
      if (tmpCreated) await fs.rm(tmp, { force: true }).catch(() => {})
      throw storeError(err, cid, this.root)
    }
    this.#touched.add(dir)
  }

  async #ensureDir (dir: string): Promise<void> {
    if (this.#knownDirs.has(dir)) return
    // mkdir(2) reports EEXIST for a present directory; only a new one needs
    // its parent's entry made durable.
    try {
      await fs.mkdir(dir)
      this.#touched.add(this.blocksDir)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    this.#knownDirs.add(dir)
  }

  async putMany (blocks: Iterable<Block> | AsyncIterable<Block>, options: PutManyOptions = {}): Promise<void> {
    await putManyWith(async (cid, bytes, opts) => { await this.put(cid, bytes, opts) }, blocks, options)
  }

  async get (cid: CID, options: GetOptions = {}): Promise<Uint8Array> {
    throwIfAborted(options.signal, `Reading block "${cid}"`)
    if (isIdentity(cid)) return cid.multihash.digest
    const file = this.pathOf(cid)
    const bytes = await readBlockFile(cid, file, options.signal)
    if (options.verify === false || await verifyBlock(cid, bytes)) return bytes
    return await this.#keyLocks.run(blockKey(cid), async () => {
      // Read again under the key's lock: a put may have replaced the file
      // since; only bytes that still fail verification are quarantined.
      const again = await readBlockFile(cid, file, undefined)
      if (await verifyBlock(cid, again)) return again
      const quarantined = path.join(this.quarantineDir, `${blockKey(cid)}.${Date.now()}${EXTENSION}`)
      try {
        await fs.rename(file, quarantined)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      }
      this.#touched.add(path.dirname(file))
      this.#touched.add(this.quarantineDir)
      this.#onCorrupt?.(cid, quarantined)
      throw new CorruptBlockError(cid.toString(), `Block "${cid}" is corrupted on disk (its bytes do not match its CID); moved to ${quarantined}`)
    })
  }

  async has (cid: CID, options: AbortOptions = {}): Promise<boolean> {
    throwIfAborted(options.signal, `Looking up block "${cid}"`)
    if (isIdentity(cid)) return true
    return await sizeOf(this.pathOf(cid)) != null
  }

  async delete (cid: CID, options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal, `Deleting block "${cid}"`)
    if (isIdentity(cid)) return
    const key = blockKey(cid)
    await this.#keyLocks.run(key, async () => {
      const file = this.pathOf(cid)
      try {
        await fs.unlink(file)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
        throw err
      }
      this.#touched.add(path.dirname(file))
    })
  }

  async * list (options: AbortOptions = {}): AsyncGenerator<BlockInfo> {
    let shards: string[]
    try {
      shards = (await fs.readdir(this.blocksDir, { withFileTypes: true }))
        .filter(e => e.isDirectory() && e.name.length === 2)
        .map(e => e.name)
        .sort()
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw err
    }
    for (const shard of shards) {
      throwIfAborted(options.signal, 'Listing blocks')
      const dir = path.join(this.blocksDir, shard)
      let names: string[]
      try {
        names = await fs.readdir(dir)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue
        throw err
      }
      const found = await Promise.all(names.filter(n => n.endsWith(EXTENSION)).map(async name => {
        const key = name.slice(0, -EXTENSION.length)
        let cid: CID
        try {
          cid = cidFromKey(key)
        } catch {
          return undefined // not a block file
        }
        if (key.slice(-3, -1) !== shard) return undefined
        const size = await sizeOf(path.join(dir, name))
        return size == null ? undefined : { cid, size }
      }))
      for (const info of found) if (info != null) yield info
    }
  }

  async sync (options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal, 'Syncing the block store')
    const dirs = [...this.#touched]
    this.#touched = new Set()
    if (!this.#fsync || dirs.length === 0) return
    try {
      await forEachLimited(dirs, 16, fsyncDir)
    } catch (err) {
      for (const dir of dirs) this.#touched.add(dir)
      throw err
    }
  }
}

/**
 * Write a new temp file: create it (in libuv's thread pool), copy the bytes
 * into the page cache (synchronously: tens of microseconds), fdatasync it (in
 * the pool), close it. Each async fs call is a round trip through the small
 * thread pool, and at six of them per block those round trips, not the disk,
 * bounded the write rate; but creating a file waits on the filesystem's
 * journal while other blocks' fdatasyncs commit it, which stalled the event
 * loop when it was synchronous (a profile of an add showed 20% of its time in
 * open()).
 */
export async function writeTempFile (file: string, bytes: Uint8Array, options: WriteTempFileOptions): Promise<void> {
  const fd = await new Promise<number>((resolve, reject) => {
    fsSync.open(file, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o644, (err, fd) => { err == null ? resolve(fd) : reject(err) })
  })
  try {
    let offset = 0
    while (offset < bytes.length) offset += fsSync.writeSync(fd, bytes, offset, bytes.length - offset, offset)
    if (options.fsync) await new Promise<void>((resolve, reject) => { fsSync.fdatasync(fd, err => { err == null ? resolve() : reject(err) }) })
  } finally {
    fsSync.closeSync(fd)
  }
}

/**
 * Read a whole block file synchronously: the async readFile is four
 * thread-pool round trips (open, fstat, read, close; see writeTempFile),
 * which cost a serving node about as much main-thread time as the reads
 * themselves, and blocks are small and almost always in the page cache.
 */
async function readBlockFile (cid: CID, file: string, signal: AbortSignal | undefined): Promise<Uint8Array> {
  if (signal?.aborted === true) throw new AbortedError(`Reading block "${cid}" was aborted`)
  try {
    const buf = fsSync.readFileSync(file)
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BlockNotFoundError(cid.toString())
    throw err
  }
}

/** Size of a file, undefined if absent (synchronous: a cached metadata lookup, see writeTempFile). */
async function sizeOf (file: string): Promise<number | undefined> {
  return fsSync.statSync(file, { throwIfNoEntry: false })?.size
}

/** A failed block write as shoal reports it: a full disk or quota is a DiskFullError naming the block and the repo. */
export function storeError (err: unknown, cid: CID, root: string): unknown {
  const code = (err as NodeJS.ErrnoException).code
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return err
  const why = code === 'ENOSPC' ? 'the disk is full' : 'the disk quota is exhausted'
  return new DiskFullError(`Cannot store block "${cid}" in the repo at ${root}: ${why} (${code})`, { cause: err })
}

/** fsync a directory; filesystems that cannot (EINVAL, ENOTSUP) are skipped, real I/O errors are not. */
export async function fsyncDir (dir: string): Promise<void> {
  let handle: fs.FileHandle
  try {
    handle = await fs.open(dir, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  try {
    await handle.sync()
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err
  } finally {
    await handle.close()
  }
}

async function forEachLimited<T> (items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++])
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
}

/** Runs functions one at a time per key. */
export class KeyedLock {
  readonly #tails = new Map<string, Promise<void>>()

  async run<T> (key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key)
    let release!: () => void
    const mine = new Promise<void>(resolve => { release = resolve })
    const tail = prev == null ? mine : prev.then(() => mine)
    this.#tails.set(key, tail)
    try {
      if (prev != null) await prev
      return await fn()
    } finally {
      release()
      if (this.#tails.get(key) === tail) this.#tails.delete(key)
    }
  }
}

/** A counting semaphore whose waiters can be aborted. */
export class Semaphore {
  #free: number
  readonly #waiters: Array<() => void> = []

  constructor (size: number) {
    this.#free = size
  }

  async acquire (signal?: AbortSignal): Promise<void> {
    if (this.#free > 0) {
      this.#free--
      return
    }
    throwIfAborted(signal, 'Waiting for a write slot')
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.#waiters.indexOf(grant)
        if (i >= 0) this.#waiters.splice(i, 1)
        reject(new AbortedError('Waiting for a write slot was aborted'))
      }
      const grant = (): void => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }
      this.#waiters.push(grant)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  release (): void {
    const next = this.#waiters.shift()
    if (next != null) next()
    else this.#free++
  }
}
