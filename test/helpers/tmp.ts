import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

/** A fresh temp directory, removed by the returned cleanup. */
export async function tempDir (prefix = 'shoal-test-'): Promise<{ dir: string, cleanup: () => Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix))
  return { dir, cleanup: async () => { await fs.rm(dir, { recursive: true, force: true }) } }
}

/** Poll `check` every `intervalMs` until it returns true; throw after `timeoutMs`. */
export async function waitFor (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`)
}
