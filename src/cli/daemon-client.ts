import { ShoalClient } from '../client/client.ts'
import type { CommandContext } from './command.ts'

/** The client of the daemon of the repo named by --repo or $SHOAL_HOME. */
export async function daemonClient (ctx: CommandContext): Promise<ShoalClient> {
  return await ShoalClient.fromRepo(ctx.values.repo as string | undefined, { env: ctx.io.env })
}
