import fs from 'node:fs/promises'
import path from 'node:path'

/**
 * Write a file so that readers see the old content or the new, never a torn
 * one: write a temp file beside it, fsync, rename over, fsync the directory.
 */
export async function writeFileAtomic (file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`
  const handle = await fs.open(tmp, 'wx', mode)
  try {
    await handle.writeFile(data)
    await handle.chmod(mode) // the umask may have narrowed or (for 0600) it must not widen
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await fs.rename(tmp, file)
  } catch (err) {
    await fs.rm(tmp, { force: true })
    throw err
  }
  await fsyncDir(path.dirname(file))
}

export async function fsyncDir (dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r')
  try {
    await handle.sync()
  } catch {
    // some filesystems refuse fsync on directories; the rename is still atomic
  } finally {
    await handle.close()
  }
}

export async function readFileIfExists (file: string): Promise<Buffer | undefined> {
  try {
    return await fs.readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}
