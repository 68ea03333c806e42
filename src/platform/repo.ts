/**
 * Where a node keeps its state, and the lock that lets one daemon at a time
 * use it. The CLI reads the same paths to find a running daemon.
 */
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { RepoError, RepoLockedError } from '../errors.ts'
import { readFileIfExists, writeFileAtomic } from './files.ts'

export interface RepoPaths {
  root: string
  /** config.json: the node's settings, embedded defaults written on first start */
  config: string
  /** identity.key: the libp2p private key (protobuf), mode 0600 */
  identity: string
  /** repo.lock: pid of the daemon using the repo */
  lock: string
  /** rpc.token: bearer token for the RPC port, new at each start, mode 0600 */
  rpcToken: string
  /** api.json: the RPC address the running daemon actually bound */
  api: string
}

export interface RepoDirOptions {
  repo?: string
  env?: Record<string, string | undefined>
  home?: string
}

/** `--repo DIR`, else `$SHOAL_HOME`, else `~/.shoal`. */
export function resolveRepoDir (options: RepoDirOptions = {}): string {
  const env = options.env ?? process.env
  const chosen = options.repo ?? (env.SHOAL_HOME != null && env.SHOAL_HOME !== '' ? env.SHOAL_HOME : undefined)
  if (chosen != null) return path.resolve(chosen)
  return path.join(options.home ?? os.homedir(), '.shoal')
}

export function repoPaths (root: string): RepoPaths {
  return {
    root,
    config: path.join(root, 'config.json'),
    identity: path.join(root, 'identity.key'),
    lock: path.join(root, 'repo.lock'),
    rpcToken: path.join(root, 'rpc.token'),
    api: path.join(root, 'api.json')
  }
}

/** Create the repo directory (0700) if it is not there yet. */
export async function ensureRepoDir (root: string): Promise<void> {
  try {
    await fs.mkdir(root, { recursive: true, mode: 0o700 })
    const stat = await fs.stat(root)
    if (!stat.isDirectory()) throw new RepoError(`Cannot use repo "${root}": it is not a directory`)
  } catch (err) {
    if (err instanceof RepoError) throw err
    throw new RepoError(`Cannot create repo "${root}": ${(err as Error).message}`, { cause: err })
  }
}

export interface RepoLock {
  release(): Promise<void>
}

/** Lock files taken by this process and not yet released. */
const heldHere = new Set<string>()

interface LockContent {
  pid: number
  hostname: string
  startedAt: string
}

/**
 * Take the repo lock or fail at once. The lock file appears complete or not at
 * all (written aside, then hard-linked into place, which fails if it exists).
 * A lock whose process is gone (a killed daemon) is stale and is taken over.
 */
export async function acquireRepoLock (paths: RepoPaths, pid = process.pid): Promise<RepoLock> {
  const content: LockContent = { pid, hostname: os.hostname(), startedAt: new Date().toISOString() }
  const tmp = `${paths.lock}.${pid}.${Math.random().toString(36).slice(2)}`
  await writeFileAtomic(tmp, JSON.stringify(content) + '\n', 0o600)
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await fs.link(tmp, paths.lock)
        heldHere.add(paths.lock)
        return {
          release: async () => {
            heldHere.delete(paths.lock)
            await releaseLock(paths.lock, pid)
          }
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new RepoError(`Cannot lock repo "${paths.root}": ${(err as Error).message}`, { cause: err })
        }
      }
      const holder = await readLock(paths.lock)
      if (holder != null && holder.hostname === os.hostname() && isProcessAlive(holder.pid) &&
        // a lock naming our own pid is ours only if this process took it; otherwise it was left by an
        // earlier process that had the same pid (in a container the daemon is always pid 1)
        (holder.pid !== pid || heldHere.has(paths.lock))) {
        throw new RepoLockedError(
          `Cannot use repo "${paths.root}": a shoal daemon (pid ${holder.pid}) is already running on it`,
          holder.pid
        )
      }
      // stale: move it aside atomically (if another process got there first the rename fails), then retry
      const aside = `${paths.lock}.stale-${pid}`
      await fs.rename(paths.lock, aside).then(async () => { await fs.rm(aside, { force: true }) }, () => {})
    }
    throw new RepoError(`Cannot lock repo "${paths.root}": the lock keeps changing hands`)
  } finally {
    await fs.rm(tmp, { force: true })
  }
}

async function readLock (file: string): Promise<LockContent | undefined> {
  const raw = await readFileIfExists(file)
  if (raw == null) return undefined
  try {
    const parsed = JSON.parse(raw.toString('utf8')) as Partial<LockContent>
    if (typeof parsed.pid === 'number' && typeof parsed.hostname === 'string') return parsed as LockContent
  } catch {}
  return undefined
}

async function releaseLock (file: string, pid: number): Promise<void> {
  const holder = await readLock(file)
  if (holder?.pid === pid) await fs.rm(file, { force: true })
}

/** A process with this pid exists on this machine (it may belong to another user). */
export function isProcessAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
