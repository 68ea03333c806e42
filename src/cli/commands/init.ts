import { initRepo } from '../../daemon/daemon.ts'
import { repoPaths, resolveRepoDir } from '../../platform/repo.ts'
import { jsonOption, repoOption, UsageError } from '../command.ts'
import type { Command } from '../command.ts'
import { formatTable, printJson } from '../io.ts'

export const initCommand: Command = {
  name: 'init',
  summary: 'Create a repo (config, identity) and, for a private network, its swarm key. No daemon needed.',
  usage: 'init [--repo DIR] [--swarm-key | --swarm-key-file FILE] [--json]',
  description: [
    'Only nodes that have the same swarm key can connect to each other: run "shoal init --swarm-key" on one',
    'node, copy its <repo>/swarm.key to every other node (over a channel you trust), and start them with it',
    '("shoal init --swarm-key-file FILE" puts a copy in place). Running init again on a repo keeps what is there.',
    'A running daemon uses a new swarm key after its restart.'
  ].join('\n'),
  options: {
    repo: repoOption,
    'swarm-key': { type: 'boolean', description: 'make a new swarm key: this repo starts a private network' },
    'swarm-key-file': { type: 'string', value: 'FILE', description: 'join a private network: copy its swarm.key (Kubo\'s format) into the repo' },
    json: jsonOption
  },
  async run (ctx) {
    if (ctx.positionals.length > 0) throw new UsageError(`unexpected argument "${ctx.positionals[0]}"`)
    const generate = ctx.values['swarm-key'] === true
    const from = ctx.values['swarm-key-file'] as string | undefined
    if (generate && from != null) throw new UsageError('say either --swarm-key (a new key) or --swarm-key-file FILE (an existing one)')
    const root = resolveRepoDir({ repo: ctx.values.repo as string | undefined, env: ctx.io.env })
    const result = await initRepo(root, { swarmKey: generate ? 'new' : from != null ? { file: from } : undefined })
    if (ctx.values.json === true) printJson(ctx.io, result)
    else {
      ctx.io.stdout(formatTable([
        ['repo', result.repo],
        ['peer id', result.peerId],
        ['config', `${repoPaths(root).config} (${result.config})`],
        ['network', result.network === 'public' ? 'public: any node that reaches the p2p port can join (see --swarm-key)' : `private, swarm key ${result.swarmKeyFingerprint ?? ''} in ${result.swarmKey ?? ''}`]
      ]))
      if (generate) ctx.io.stdout(`Copy ${result.swarmKey ?? 'swarm.key'} to every node of this network, e.g. "shoal init --swarm-key-file swarm.key" there.\n`)
    }
    return 0
  }
}
