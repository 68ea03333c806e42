import path from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreateConfig } from '../../config.ts'
import { InvalidArgumentError } from '../../errors.ts'
import { loadOrCreateIdentity } from '../../net/identity.ts'
import { generateSwarmKey, loadSwarmKey, parseSwarmKey, SWARM_KEY_FILE } from '../../net/swarm-key.ts'
import { readFileIfExists, writeFileAtomic } from '../../platform/files.ts'
import { ensureRepoDir, repoPaths, resolveRepoDir } from '../../platform/repo.ts'
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
    const paths = repoPaths(resolveRepoDir({ repo: ctx.values.repo as string | undefined, env: ctx.io.env }))
    const keyFile = path.join(paths.root, SWARM_KEY_FILE)
    // the key is checked before anything is written
    const text = generate ? generateSwarmKey() : from != null ? await readKeyFile(from) : undefined
    const key = text == null ? undefined : parseSwarmKey(text, from)
    const existing = await loadSwarmKey(paths.root)
    if (key != null && existing != null && existing.fingerprint !== key.fingerprint) {
      throw new InvalidArgumentError(`The repo at ${paths.root} already has a swarm key (${existing.fingerprint}); to change networks, move ${keyFile} away first`)
    }
    await ensureRepoDir(paths.root)
    const { created } = await loadOrCreateConfig(paths.config)
    const { privateKey } = await loadOrCreateIdentity(paths.identity)
    if (text != null && existing == null) await writeFileAtomic(keyFile, text, 0o600)
    const swarm = await loadSwarmKey(paths.root)
    const result = {
      repo: paths.root,
      peerId: peerIdFromPrivateKey(privateKey).toString(),
      config: created ? 'created' : 'kept',
      network: swarm == null ? 'public' : 'private',
      ...(swarm == null ? {} : { swarmKey: keyFile, swarmKeyFingerprint: swarm.fingerprint })
    }
    if (ctx.values.json === true) printJson(ctx.io, result)
    else {
      ctx.io.stdout(formatTable([
        ['repo', result.repo],
        ['peer id', result.peerId],
        ['config', `${paths.config} (${result.config})`],
        ['network', swarm == null ? 'public: any node that reaches the p2p port can join (see --swarm-key)' : `private, swarm key ${swarm.fingerprint} in ${keyFile}`]
      ]))
      if (generate) ctx.io.stdout(`Copy ${keyFile} to every node of this network, e.g. "shoal init --swarm-key-file swarm.key" there.\n`)
    }
    return 0
  }
}

async function readKeyFile (file: string): Promise<string> {
  const raw = await readFileIfExists(file).catch((err: Error) => { throw new InvalidArgumentError(`Cannot read the swarm key "${file}": ${err.message}`) })
  if (raw == null) throw new InvalidArgumentError(`Cannot read the swarm key "${file}": no such file`)
  return raw.toString('utf8')
}

