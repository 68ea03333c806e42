/**
 * A repo made ready without a daemon (`shoal init`): config, identity, and
 * for a private network its swarm key, a new one or a copy of the network's.
 */
import path from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreateConfig } from '../config.ts'
import { InvalidArgumentError } from '../errors.ts'
import { loadOrCreateIdentity } from '../net/identity.ts'
import { generateSwarmKey, loadSwarmKey, parseSwarmKey, SWARM_KEY_FILE } from '../net/swarm-key.ts'
import { readFileIfExists, writeFileAtomic } from '../platform/files.ts'
import { ensureRepoDir, repoPaths } from '../platform/repo.ts'

export interface InitOptions {
  /** 'new': make a new key; a path: copy that key file; absent: leave the network as it is */
  swarmKey?: 'new' | { file: string }
}

export interface InitResult {
  repo: string
  peerId: string
  config: 'created' | 'kept'
  network: 'public' | 'private'
  swarmKey?: string
  swarmKeyFingerprint?: string
}

/** Creates what is missing; the key is checked before anything is written, and a different key is never replaced. */
export async function initRepo (root: string, options: InitOptions = {}): Promise<InitResult> {
  const paths = repoPaths(root)
  const keyFile = path.join(paths.root, SWARM_KEY_FILE)
  const text = options.swarmKey === 'new' ? generateSwarmKey() : options.swarmKey != null ? await readKeyFile(options.swarmKey.file) : undefined
  const key = text == null ? undefined : parseSwarmKey(text, options.swarmKey === 'new' ? undefined : options.swarmKey?.file)
  const existing = await loadSwarmKey(paths.root)
  if (key != null && existing != null && existing.fingerprint !== key.fingerprint) {
    throw new InvalidArgumentError(`The repo at ${paths.root} already has a swarm key (${existing.fingerprint}); to change networks, move ${keyFile} away first`)
  }
  await ensureRepoDir(paths.root)
  const { created } = await loadOrCreateConfig(paths.config)
  const { privateKey } = await loadOrCreateIdentity(paths.identity)
  if (text != null && existing == null) await writeFileAtomic(keyFile, text, 0o600)
  const swarm = existing ?? key
  return {
    repo: paths.root,
    peerId: peerIdFromPrivateKey(privateKey).toString(),
    config: created ? 'created' : 'kept',
    network: swarm == null ? 'public' : 'private',
    ...(swarm == null ? {} : { swarmKey: keyFile, swarmKeyFingerprint: swarm.fingerprint })
  }
}

async function readKeyFile (file: string): Promise<string> {
  const raw = await readFileIfExists(file).catch((err: Error) => { throw new InvalidArgumentError(`Cannot read the swarm key "${file}": ${err.message}`) })
  if (raw == null) throw new InvalidArgumentError(`Cannot read the swarm key "${file}": no such file`)
  return raw.toString('utf8')
}
