/**
 * Where the daemon of a repo listens: the address it bound (api.json, written
 * at start), else its config's `rpc`; and its token (rpc.token).
 */
import { readConfig } from '../config.ts'
import { readFileIfExists } from '../platform/files.ts'
import { repoPaths } from '../platform/repo.ts'

export interface DaemonEndpoint {
  /** HOST:PORT */
  address: string
  token?: string
}

/** What a daemon writes to <repo>/api.json. */
export interface ApiFile {
  rpc: string
  pid: number
}

/** Where the daemon of `repoDir` listens: what it wrote at start, else what its config says. */
export async function locateDaemon (repoDir: string): Promise<DaemonEndpoint> {
  const paths = repoPaths(repoDir)
  const token = (await readFileIfExists(paths.rpcToken))?.toString('utf8').trim()
  const api = await readFileIfExists(paths.api)
  if (api != null) {
    try {
      const parsed = JSON.parse(api.toString('utf8')) as Partial<ApiFile>
      if (typeof parsed.rpc === 'string') return { address: parsed.rpc, token }
    } catch {
      // a torn or foreign api.json: fall back to the config
    }
  }
  const config = await readConfig(paths.config)
  return { address: config.rpc, token }
}
