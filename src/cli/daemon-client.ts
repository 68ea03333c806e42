import { resolveRepoDir } from '../platform/repo.ts'
import { locateDaemon, RpcClient } from '../rpc/client.ts'
import type { CommandContext } from './command.ts'

/** An RPC client for the daemon of the repo named by --repo or $SHOAL_HOME. */
export async function daemonClient (ctx: CommandContext): Promise<RpcClient> {
  const repoDir = resolveRepoDir({ repo: ctx.values.repo as string | undefined, env: ctx.io.env })
  return new RpcClient(await locateDaemon(repoDir))
}
