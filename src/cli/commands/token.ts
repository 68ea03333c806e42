import fs from 'node:fs/promises'
import { DaemonUnreachableError, RepoError } from '../../errors.ts'
import { writeFileAtomic } from '../../platform/files.ts'
import { repoPaths, resolveRepoDir } from '../../platform/repo.ts'
import { newRpcToken } from '../../rpc/server.ts'
import { jsonOption, repoOption, UsageError } from '../command.ts'
import type { Command } from '../command.ts'
import { daemonClient } from '../daemon-client.ts'
import { printJson } from '../io.ts'

export const tokenCommand: Command = {
  name: 'token',
  summary: 'Replace the RPC token: token rotate.',
  usage: 'token rotate [--json]',
  description: [
    'Writes a new bearer token to <repo>/rpc.token (mode 0600). A running daemon refuses the',
    'old token from then on; without a running daemon the file is replaced for its next start',
    '(kept then when config.json says "rpcTokenStable": true, else a new one is made at start).'
  ].join('\n'),
  options: { repo: repoOption, json: jsonOption },
  async run (ctx) {
    if (ctx.positionals[0] !== 'rotate' || ctx.positionals.length > 1) throw new UsageError('say "token rotate"')
    let file: string
    let running = true
    try {
      file = (await (await daemonClient(ctx)).call('token.rotate')).file
    } catch (err) {
      if (!(err instanceof DaemonUnreachableError)) throw err
      running = false
      const paths = repoPaths(resolveRepoDir({ repo: ctx.values.repo as string | undefined, env: ctx.io.env }))
      if (!(await fs.stat(paths.config).then(() => true, () => false))) throw new RepoError(`No shoal repo at ${paths.root}: nothing to rotate`)
      file = paths.rpcToken
      await writeFileAtomic(file, newRpcToken() + '\n', 0o600)
    }
    if (ctx.values.json === true) printJson(ctx.io, { file, daemon: running })
    else ctx.io.stdout(`new RPC token in ${file}${running ? ': the daemon refuses the old one from now on' : ' (no daemon running: it takes effect at the next start)'}\n`)
    return 0
  }
}
