/**
 * Blocks packed into segment files, the default store:
 *
 *   <root>/packs/<NNNNNNNN>.pack    segments: records appended one after another
 *   <root>/quarantine/              copies of blocks whose bytes stopped matching their CID
 *   metadata.db, tables of module "packs": where each block is (segment,
 *   offset, length), and each segment's committed end and live/dead bytes
 *
 * A record is a header (u32 LE length of the data, u8 length of the
 * multihash), the multihash, then the block's bytes; the index points at the
 * bytes. A put appends its record to the active segment (one synchronous
 * write into the page cache) and is readable at once from an in-memory table
 * of pending locations. `sync()` is the group commit: every segment written
 * since the last commit is fdatasynced (in libuv's thread pool), then the
 * pending locations go into the index in one transaction; concurrent syncs
 * share one commit. The transaction is not fsynced (that would stall the
 * event loop: node:sqlite is synchronous): what makes the blocks durable is
 * the fdatasync, and a commit lost to a power cut is recovered at open.
 * So an add or a PUT batch pays one fdatasync and one index commit, not one
 * file, one fdatasync and one rename per block (the flat store's cost). A
 * segment is also flushed ahead every 32 MiB appended, so a large add's
 * commit does not wait for all of it to reach the disk at the end.
 *
 * Crash safety: at open, what a segment holds past its committed end (all
 * of it for a segment the index does not know, e.g. a lost metadata.db) is
 * read record by record: whole records whose bytes verify are indexed (a
 * synced block whose index commit was lost; or an unsynced one that made it
 * to disk, which GC collects as cache), and the first torn one ends the
 * segment, which is cut there. Reads are verified unless the
 * caller says the receiver verifies (a block served to a peer).
 *
 * Space: a delete only marks the bytes dead. `compact()` copies the live
 * records of mostly dead segments to the active one, a slice at a time (each
 * slice one commit, the event loop free in between), then removes them.
 * Lookups and reads of one block happen in one synchronous step, so a read
 * never sees a location that compaction has just retired.
 */
import fs from 'node:fs/promises'
import fsSync from 'node:fs'
import path from 'node:path'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { verifyBlock } from '../content/blocks.ts'
import { BlockNotFoundError, CorruptBlockError, InvalidArgumentError } from '../errors.ts'
import { fsyncDir, storeError } from './fs-blockstore.ts'
import type { Migration } from './metadata.ts'
import type { Metadata } from './metadata.ts'
import {
  blockKey, isIdentity, putManyWith, throwIfAborted, verifyForPut,
  type AbortOptions, type Block, type BlockInfo, type Blockstore, type GetOptions, type PutManyOptions, type PutOptions
} from './blockstore.ts'

const HEADER_BYTES = 5
const SEGMENT_NAME = /^(\d{8})\.pack$/
/** no block is larger (the block protocol's limit is 2 MiB): a header saying more is not a record */
const MAX_RECORD_BYTES = 64 * 1024 * 1024

const PACK_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'where each block is in the segment files; each segment\'s committed end and live and dead bytes',
    up (db) {
      db.exec(`CREATE TABLE pack_blocks (
        mh BLOB PRIMARY KEY, seg INTEGER NOT NULL, off INTEGER NOT NULL, len INTEGER NOT NULL
      ) WITHOUT ROWID`)
      db.exec('CREATE INDEX pack_blocks_seg ON pack_blocks (seg)')
      db.exec(`CREATE TABLE pack_segments (
        id INTEGER PRIMARY KEY, committed INTEGER NOT NULL, live INTEGER NOT NULL, dead INTEGER NOT NULL
      )`)
    }
  }
]

export interface PackedBlockstoreInit {
  /** The store's directory; `packs/` and `quarantine/` go under it. */
  root: string
  /** The database the index lives in (the repo's metadata.db). */
  metadata: Metadata
  /** fdatasync segments at sync() (default true). Off only for benchmarks and throwaway stores. */
  fsync?: boolean
  /** A new segment is started once the active one is this large (default 256 MiB). */
  segmentBytes?: number
  /** Called after a corrupted block was copied to the quarantine directory and forgotten. */
  onCorrupt?(cid: CID, quarantinePath: string): void
}

interface Location { seg: number, off: number, len: number }

/** A location put and not yet committed; `from`: the committed one it replaces (compaction moved it). */
type Pending = Location & { mh: Uint8Array, from?: Location }

interface Segment {
  id: number
  fd: number
  /** bytes written (committed or not) */
  size: number
  /** bytes the index knows of (everything after is uncommitted) */
  committed: number
  /** uncommitted records deleted before any commit: end -> start (cut off when they reach the tail) */
  deadTail: Map<number, number>
  /** bytes appended since the last flush ahead (see #flushAhead) */
  unflushed: number
  /** the flush ahead in flight, and the error of one that failed (the next commit fails with it) */
  flushing?: Promise<void>
  flushError?: Error
}

/** A segment is flushed ahead of the commit every this many bytes appended. */
const FLUSH_AHEAD_BYTES = 32 * 1024 * 1024

export class PackedBlockstore implements Blockstore {
  /** put appends a copy to a segment file at once */
  readonly keepsNoBytes = true
  readonly root: string
  readonly packsDir: string
  readonly quarantineDir: string
  readonly #metadata: Metadata
  readonly #fsync: boolean
  readonly #segmentBytes: number
  readonly #onCorrupt?: (cid: CID, quarantinePath: string) => void
  readonly #segments = new Map<number, Segment>()
  #active!: Segment
  /** put and not yet committed, by multihash key */
  #pending = new Map<string, Pending>()
  /** segments written since the last commit */
  #dirty = new Set<Segment>()
  /** a new segment file was created since the last commit (the directory needs an fsync) */
  #newFiles = false
  /** the commit in progress */
  #committing?: Promise<void>
  #closed = false

  private constructor (init: PackedBlockstoreInit) {
    this.root = path.resolve(init.root)
    this.packsDir = path.join(this.root, 'packs')
    this.quarantineDir = path.join(this.root, 'quarantine')
    this.#metadata = init.metadata
    this.#fsync = init.fsync ?? true
    this.#segmentBytes = init.segmentBytes ?? 256 * 1024 * 1024
    this.#onCorrupt = init.onCorrupt
  }

  /** Opens the store: cuts uncommitted tails, removes unknown segments, picks the active segment. */
  static async open (init: PackedBlockstoreInit): Promise<PackedBlockstore> {
    const store = new PackedBlockstore(init)
    await store.#init()
    return store
  }

  async #init (): Promise<void> {
    this.#metadata.migrateModule('packs', PACK_MIGRATIONS)
    for (const dir of [this.root, this.packsDir, this.quarantineDir]) await fs.mkdir(dir, { recursive: true })
    const known = new Map<number, number>()
    for (const row of this.#metadata.statement('SELECT id, committed FROM pack_segments').all() as Array<{ id: number, committed: number }>) {
      known.set(Number(row.id), Number(row.committed))
    }
    for (const name of (await fs.readdir(this.packsDir)).sort()) {
      const match = SEGMENT_NAME.exec(name)
      const file = path.join(this.packsDir, name)
      if (match == null) continue
      const id = Number(match[1])
      const fd = fsSync.openSync(file, 'r+')
      let committed = known.get(id) ?? 0
      // past the committed end: records written (and maybe fdatasynced and
      // acknowledged) whose index commit did not survive; whole ones that
      // verify are indexed, the first torn one ends the segment
      if (fsSync.fstatSync(fd).size > committed) {
        committed = await this.#reindex(id, fd, committed, known.has(id))
        fsSync.ftruncateSync(fd, committed)
      }
      if (committed === 0 && !known.has(id)) {
        fsSync.closeSync(fd)
        await fs.rm(file, { force: true })
        continue
      }
      known.set(id, committed)
      this.#segments.set(id, { id, fd, size: committed, committed, deadTail: new Map(), unflushed: 0 })
    }
    for (const id of known.keys()) {
      if (!this.#segments.has(id)) this.#metadata.statement('DELETE FROM pack_segments WHERE id = ?').run(id)
    }
    const last = Math.max(0, ...this.#segments.keys())
    const current = this.#segments.get(last)
    this.#active = current != null && current.size < this.#segmentBytes ? current : this.#newSegment(last + 1)
  }

  /**
   * Indexes a segment's records from `from` on: each one whose bytes match
   * its multihash (a block indexed elsewhere already keeps its place; this
   * copy is dead bytes); one that fails is skipped (dead bytes); the first
   * that cannot be a record (a torn tail) ends the segment. Returns the end
   * of the last whole record.
   */
  async #reindex (id: number, fd: number, from: number, known: boolean): Promise<number> {
    const size = fsSync.fstatSync(fd).size
    let pos = from
    let live = 0
    let dead = 0
    const rows: Array<{ mh: Uint8Array, off: number, len: number }> = []
    const header = new Uint8Array(HEADER_BYTES + 255)
    while (pos + HEADER_BYTES <= size) {
      fsSync.readSync(fd, header, 0, Math.min(header.length, size - pos), pos)
      const len = new DataView(header.buffer).getUint32(0, true)
      const mhLen = header[4]
      const end = pos + HEADER_BYTES + mhLen + len
      if (mhLen < 2 || end > size || len > MAX_RECORD_BYTES) break
      const mh = header.slice(HEADER_BYTES, HEADER_BYTES + mhLen)
      let cid: CID
      try {
        cid = cidOf(mh)
      } catch {
        break
      }
      const off = pos + HEADER_BYTES + mhLen
      if (await verifyBlock(cid, this.#readFd(fd, off, len)).catch(() => false)) rows.push({ mh, off, len })
      else dead += end - pos
      pos = end
    }
    if (pos === from) return pos
    this.#metadata.transaction(() => {
      const insert = this.#metadata.statement('INSERT OR IGNORE INTO pack_blocks (mh, seg, off, len) VALUES (?, ?, ?, ?)')
      for (const r of rows) {
        if (Number(insert.run(r.mh, id, r.off, r.len).changes) > 0) live += r.len
        else dead += r.len
      }
      if (!known) this.#metadata.statement('INSERT INTO pack_segments (id, committed, live, dead) VALUES (?, 0, 0, 0)').run(id)
      this.#metadata.statement('UPDATE pack_segments SET committed = ?, live = live + ?, dead = dead + ? WHERE id = ?').run(pos, live, dead, id)
    }, true)
    return pos
  }

  #newSegment (id: number): Segment {
    const file = this.#file(id)
    const fd = fsSync.openSync(file, fsSync.constants.O_RDWR | fsSync.constants.O_CREAT | fsSync.constants.O_EXCL, 0o644)
    const segment: Segment = { id, fd, size: 0, committed: 0, deadTail: new Map<number, number>(), unflushed: 0 }
    this.#segments.set(id, segment)
    this.#metadata.statement('INSERT INTO pack_segments (id, committed, live, dead) VALUES (?, 0, 0, 0)').run(id)
    this.#newFiles = true
    return segment
  }

  #file (id: number): string {
    return path.join(this.packsDir, `${String(id).padStart(8, '0')}.pack`)
  }

  /** Where a block's bytes are (for tests and tools), or undefined. */
  locate (cid: CID): { file: string, offset: number, length: number } | undefined {
    const loc = this.#lookup(cid.multihash.bytes)
    return loc == null ? undefined : { file: this.#file(loc.seg), offset: loc.off, length: loc.len }
  }

  #lookup (mh: Uint8Array): Location | undefined {
    const pending = this.#pending.get(keyOf(mh))
    if (pending != null) return pending
    const row = this.#metadata.statement('SELECT seg, off, len FROM pack_blocks WHERE mh = ?').get(mh) as { seg: number, off: number, len: number } | undefined
    return row == null ? undefined : { seg: Number(row.seg), off: Number(row.off), len: Number(row.len) }
  }

  async put (cid: CID, bytes: Uint8Array, options: PutOptions = {}): Promise<void> {
    throwIfAborted(options.signal, `Storing block "${cid}"`)
    await verifyForPut(cid, bytes, options)
    if (isIdentity(cid)) return
    this.#checkOpen()
    const mh = cid.multihash.bytes
    if (this.#lookup(mh) != null) return
    this.#append(mh, bytes, cid)
  }

  /** Appends one record to the active segment (synchronously: it cannot interleave with another). */
  #append (mh: Uint8Array, bytes: Uint8Array, cid: CID, from?: Location): Location {
    const recordBytes = HEADER_BYTES + mh.length + bytes.length
    if (this.#active.size > 0 && this.#active.size + recordBytes > this.#segmentBytes) this.#active = this.#newSegment(this.#active.id + 1)
    const segment = this.#active
    const header = new Uint8Array(HEADER_BYTES)
    new DataView(header.buffer).setUint32(0, bytes.length, true)
    header[4] = mh.length
    try {
      let written = 0
      while (written < recordBytes) {
        const parts = [header, mh, bytes].map(p => Buffer.from(p.buffer, p.byteOffset, p.byteLength))
        written += fsSync.writevSync(segment.fd, skip(parts, written), segment.size + written)
      }
    } catch (err) {
      // no half record stays behind (and a full disk gets its space back)
      try { fsSync.ftruncateSync(segment.fd, segment.size) } catch {}
      throw storeError(err, cid, this.root)
    }
    const loc = { seg: segment.id, off: segment.size + HEADER_BYTES + mh.length, len: bytes.length }
    segment.size += recordBytes
    segment.unflushed += recordBytes
    if (this.#fsync && segment.unflushed >= FLUSH_AHEAD_BYTES) this.#flushAhead(segment)
    this.#pending.set(keyOf(mh), from == null ? { ...loc, mh } : { ...loc, mh, from })
    this.#dirty.add(segment)
    return loc
  }

  /**
   * Start an fdatasync of a segment while appends go on, so the commit's own
   * fdatasync finds little left to write: a large add's last one took about
   * 0.15 s per 256 MiB here, the event loop idle meanwhile. Durability is
   * still the commit's; a failure here fails the next commit.
   */
  #flushAhead (segment: Segment): void {
    segment.unflushed = 0
    if (segment.flushing != null) return
    segment.flushing = new Promise<void>(resolve => {
      fsSync.fdatasync(segment.fd, err => {
        if (err != null) segment.flushError ??= err
        segment.flushing = undefined
        resolve()
      })
    })
  }

  async putMany (blocks: Iterable<Block> | AsyncIterable<Block>, options: PutManyOptions = {}): Promise<void> {
    await putManyWith(async (cid, bytes, opts) => { await this.put(cid, bytes, opts) }, blocks, options)
  }

  async get (cid: CID, options: GetOptions = {}): Promise<Uint8Array> {
    throwIfAborted(options.signal, `Reading block "${cid}"`)
    if (isIdentity(cid)) return cid.multihash.digest
    this.#checkOpen()
    const mh = cid.multihash.bytes
    const loc = this.#lookup(mh)
    if (loc == null) throw new BlockNotFoundError(cid.toString())
    const bytes = this.#read(loc)
    if (options.verify === false || (bytes.length === loc.len && await verifyBlock(cid, bytes))) return bytes
    // the location may have changed while we hashed (quarantined and put again, compacted)
    const now = this.#lookup(mh)
    if (now != null && (now.seg !== loc.seg || now.off !== loc.off)) return await this.get(cid, options)
    if (now == null) throw new BlockNotFoundError(cid.toString())
    const quarantined = path.join(this.quarantineDir, `${blockKey(cid)}.${Date.now()}.data`)
    await fs.writeFile(quarantined, bytes).catch(() => {})
    this.#forget(mh, loc)
    this.#onCorrupt?.(cid, quarantined)
    throw new CorruptBlockError(cid.toString(), `Block "${cid}" is corrupted on disk (its bytes do not match its CID); a copy was moved to ${quarantined}`)
  }

  #read (loc: Location): Uint8Array {
    const segment = this.#segments.get(loc.seg)
    return segment == null ? new Uint8Array(0) : this.#readFd(segment.fd, loc.off, loc.len)
  }

  #readFd (fd: number, off: number, len: number): Uint8Array {
    const bytes = new Uint8Array(len)
    let done = 0
    while (done < len) {
      const n = fsSync.readSync(fd, bytes, done, len - done, off + done)
      if (n === 0) return bytes.subarray(0, done) // cut short: reported as corrupt
      done += n
    }
    return bytes
  }

  async has (cid: CID, options: AbortOptions = {}): Promise<boolean> {
    throwIfAborted(options.signal, `Looking up block "${cid}"`)
    if (isIdentity(cid)) return true
    this.#checkOpen()
    return this.#lookup(cid.multihash.bytes) != null
  }

  async delete (cid: CID, options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal, `Deleting block "${cid}"`)
    if (isIdentity(cid)) return
    this.#checkOpen()
    // (a commit in progress would write a pending row back: wait for it)
    await this.#committing
    const mh = cid.multihash.bytes
    const loc = this.#lookup(mh)
    if (loc != null) this.#forget(mh, loc)
  }

  /** The block is gone from the index (its bytes are dead until compaction). */
  #forget (mh: Uint8Array, loc: Location): void {
    const pending = this.#pending.get(keyOf(mh))
    this.#pending.delete(keyOf(mh))
    if (pending != null) this.#trimTail(pending)
    // pending and never committed: nothing else to do; a move: its committed place goes too
    const committed = pending == null ? loc : pending.from
    if (committed == null) return
    this.#metadata.transaction(() => {
      if (Number(this.#metadata.statement('DELETE FROM pack_blocks WHERE mh = ?').run(mh).changes) === 0) return
      this.#metadata.statement('UPDATE pack_segments SET live = live - ?, dead = dead + ? WHERE id = ?').run(committed.len, committed.len, committed.seg)
    })
  }

  /**
   * An uncommitted record was deleted (a failed add's block, collected before
   * any sync): once it and those after it are all deleted, the segment is cut
   * back, so their space comes back at once (on a full disk, it is what GC
   * frees before it can write anything).
   */
  #trimTail (pending: Pending): void {
    const segment = this.#segments.get(pending.seg)
    if (segment == null) return
    segment.deadTail.set(pending.off + pending.len, pending.off - HEADER_BYTES - pending.mh.length)
    let start: number | undefined
    while ((start = segment.deadTail.get(segment.size)) != null && start >= segment.committed) {
      segment.deadTail.delete(segment.size)
      segment.size = start
    }
    if (fsSync.fstatSync(segment.fd).size > segment.size) fsSync.ftruncateSync(segment.fd, segment.size)
  }

  async * list (options: AbortOptions = {}): AsyncGenerator<BlockInfo> {
    this.#checkOpen()
    // uncommitted ones first, the newest first: deleting in this order gives a
    // failed add's space back at once (see #trimTail), before GC writes anything
    const seen = new Set<string>()
    for (const p of [...this.#pending.values()].reverse()) {
      if (p.from != null) continue // a move: listed with the committed rows
      seen.add(keyOf(p.mh))
      yield { cid: cidOf(p.mh), size: p.len }
    }
    let batch: Array<{ mh: Uint8Array, len: number }> = []
    let after: Uint8Array = new Uint8Array(0)
    do {
      throwIfAborted(options.signal, 'Listing blocks')
      batch = this.#metadata.statement('SELECT mh, len FROM pack_blocks WHERE mh > ? ORDER BY mh LIMIT 1000').all(after) as Array<{ mh: Uint8Array, len: number }>
      for (const row of batch) if (!seen.has(keyOf(row.mh))) yield { cid: cidOf(row.mh), size: Number(row.len) }
      if (batch.length > 0) after = batch[batch.length - 1].mh
    } while (batch.length === 1000)
  }

  /**
   * The group commit: fdatasync what was written, then the index (see the
   * module comment). A sync that finds a commit running waits for it, and
   * the syncs that waited share the next one.
   */
  async sync (options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal, 'Syncing the block store')
    this.#checkOpen()
    while (this.#committing != null) await this.#committing
    if (this.#pending.size === 0 && this.#dirty.size === 0 && !this.#newFiles) return
    this.#committing = this.#commit().finally(() => { this.#committing = undefined })
    await this.#committing
  }

  async #commit (): Promise<void> {
    const rows = [...this.#pending.values()]
    const dirty = [...this.#dirty]
    const newFiles = this.#newFiles
    this.#dirty = new Set()
    this.#newFiles = false
    const ends = new Map(dirty.map(s => [s.id, s.size]))
    try {
      if (this.#fsync) {
        await Promise.all(dirty.map(async s => {
          await s.flushing
          const failed = s.flushError
          s.flushError = undefined
          if (failed != null) throw failed
          await new Promise<void>((resolve, reject) => { fsSync.fdatasync(s.fd, err => { err == null ? resolve() : reject(err) }) })
        }))
        if (newFiles) await fsyncDir(this.packsDir)
      }
    } catch (err) {
      for (const s of dirty) this.#dirty.add(s)
      this.#newFiles ||= newFiles
      throw err
    }
    // live and dead bytes per segment, from this commit
    const delta = new Map<number, { live: number, dead: number }>()
    const add = (seg: number, live: number, dead: number): void => {
      const d = delta.get(seg) ?? { live: 0, dead: 0 }
      delta.set(seg, { live: d.live + live, dead: d.dead + dead })
    }
    this.#metadata.transaction(() => {
      const insert = this.#metadata.statement('INSERT OR IGNORE INTO pack_blocks (mh, seg, off, len) VALUES (?, ?, ?, ?)')
      const move = this.#metadata.statement('UPDATE pack_blocks SET seg = ?, off = ? WHERE mh = ? AND seg = ? AND off = ?')
      for (const r of rows) {
        if (this.#pending.get(keyOf(r.mh)) !== r) {
          add(r.seg, 0, r.len) // deleted meanwhile: its bytes are dead
          continue
        }
        const done = r.from == null
          ? Number(insert.run(r.mh, r.seg, r.off, r.len).changes) > 0
          : Number(move.run(r.seg, r.off, r.mh, r.from.seg, r.from.off).changes) > 0
        if (!done) add(r.seg, 0, r.len)
        else {
          add(r.seg, r.len, 0)
          if (r.from != null) add(r.from.seg, -r.len, r.len)
        }
      }
      // uncommitted records deleted before this commit are dead bytes inside it now
      for (const s of dirty) {
        for (const [end, start] of s.deadTail) {
          if (end <= (ends.get(s.id) ?? 0)) {
            add(s.id, 0, end - start)
            s.deadTail.delete(end)
          }
        }
      }
      const update = this.#metadata.statement('UPDATE pack_segments SET committed = max(committed, ?), live = live + ?, dead = dead + ? WHERE id = ?')
      for (const id of new Set([...ends.keys(), ...delta.keys()])) {
        const d = delta.get(id) ?? { live: 0, dead: 0 }
        update.run(ends.get(id) ?? 0, d.live, d.dead, id)
      }
    })
    for (const r of rows) if (this.#pending.get(keyOf(r.mh)) === r) this.#pending.delete(keyOf(r.mh))
    for (const s of dirty) s.committed = Math.max(s.committed, ends.get(s.id) ?? 0)
  }

  /**
   * Reclaims the space of deleted blocks: every segment but the active one
   * whose bytes are at least `minDead` dead has its live records copied to
   * the active segment, `sliceBytes` at a time (one commit each, the event
   * loop free in between), and is then removed.
   */
  async compact (options: AbortOptions & { minDead?: number, sliceBytes?: number } = {}): Promise<{ segments: number, movedBytes: number, freedBytes: number }> {
    this.#checkOpen()
    const minDead = options.minDead ?? 0.5
    const sliceBytes = options.sliceBytes ?? 8 * 1024 * 1024
    const result = { segments: 0, movedBytes: 0, freedBytes: 0 }
    const candidates = (this.#metadata.statement('SELECT id, live, dead, committed FROM pack_segments').all() as Array<{ id: number, live: number, dead: number, committed: number }>)
      .filter(s => Number(s.id) !== this.#active.id && Number(s.committed) > 0 && Number(s.dead) >= minDead * (Number(s.live) + Number(s.dead)))
    for (const candidate of candidates) {
      const id = Number(candidate.id)
      while (true) {
        throwIfAborted(options.signal, 'Compacting the block store')
        await this.sync()
        const rows = this.#metadata.statement('SELECT mh, off, len FROM pack_blocks WHERE seg = ? ORDER BY off LIMIT 256').all(id) as Array<{ mh: Uint8Array, off: number, len: number }>
        if (rows.length === 0) break
        let moved = 0
        for (const row of rows) {
          if (moved >= sliceBytes) break
          const loc = { seg: id, off: Number(row.off), len: Number(row.len) }
          const cid = cidOf(row.mh)
          const bytes = this.#read(loc)
          if (bytes.length !== loc.len || !await verifyBlock(cid, bytes)) {
            // never copy a bad block: quarantine it as a read would
            await this.get(cid).catch(() => {})
            continue
          }
          if (this.#lookup(row.mh)?.seg !== id) continue // moved or deleted meanwhile
          // the old place stays in the index until the new one is committed
          // (a crash in between loses nothing); lookups see the new one at once
          this.#append(row.mh, bytes, cid, loc)
          moved += loc.len
        }
        await this.sync()
        result.movedBytes += moved
        await new Promise(resolve => setImmediate(resolve))
      }
      const segment = this.#segments.get(id)
      this.#metadata.statement('DELETE FROM pack_segments WHERE id = ?').run(id)
      if (segment != null) {
        await segment.flushing
        fsSync.closeSync(segment.fd)
        this.#segments.delete(id)
      }
      await fs.rm(this.#file(id), { force: true })
      result.segments++
      result.freedBytes += Number(candidate.committed)
    }
    return result
  }

  /** Bytes in segments, and how many of them are dead (what compaction would free). */
  usage (): { segmentBytes: number, deadBytes: number } {
    const row = this.#metadata.statement('SELECT coalesce(sum(committed), 0) AS c, coalesce(sum(dead), 0) AS d FROM pack_segments').get() as { c: number, d: number }
    return { segmentBytes: Number(row.c), deadBytes: Number(row.d) }
  }

  /** Commits what is pending and closes the segment files (the database stays open: it is the repo's). */
  async close (): Promise<void> {
    if (this.#closed) return
    await this.sync()
    this.#closed = true
    for (const s of this.#segments.values()) {
      await s.flushing
      fsSync.closeSync(s.fd)
    }
    this.#segments.clear()
  }

  #checkOpen (): void {
    if (this.#closed) throw new InvalidArgumentError(`The block store at ${this.root} is closed`)
  }
}

function keyOf (mh: Uint8Array): string {
  return Buffer.from(mh.buffer, mh.byteOffset, mh.byteLength).toString('base64')
}

function cidOf (mh: Uint8Array): CID {
  return CID.createV1(raw.code, Digest.decode(mh))
}

/** The parts of a vectored write past its first `offset` bytes. */
function skip (parts: Buffer[], offset: number): Buffer[] {
  const out: Buffer[] = []
  for (const p of parts) {
    if (offset >= p.length) {
      offset -= p.length
      continue
    }
    out.push(offset > 0 ? p.subarray(offset) : p)
    offset = 0
  }
  return out
}
