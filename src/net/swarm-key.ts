/**
 * The swarm key of a private network, in Kubo's format (a file `swarm.key`
 * in the repo):
 *
 *   /key/swarm/psk/1.0.0/
 *   /base16/
 *   <64 hex digits>
 *
 * Nodes with a key only complete connections with nodes that have the same
 * key (libp2p's private-network protector, XSalsa20 under Noise): a node
 * without it cannot even finish a handshake.
 */
import { createHash, randomBytes } from 'node:crypto'
import path from 'node:path'
import { ConfigError } from '../errors.ts'
import { readFileIfExists } from '../platform/files.ts'

export const SWARM_KEY_FILE = 'swarm.key'
const HEADER = '/key/swarm/psk/1.0.0/'

export interface SwarmKey {
  /** the key in the form @libp2p/pnet reads */
  psk: Uint8Array
  /** a short fingerprint to compare keys without showing them (sha256 of the key, 8 hex digits) */
  fingerprint: string
}

/** A new random key, as the text of a swarm.key file. */
export function generateSwarmKey (): string {
  return `${HEADER}\n/base16/\n${randomBytes(32).toString('hex')}\n`
}

/** Parse a swarm.key file's text; the error says what is wrong with it. */
export function parseSwarmKey (text: string, file = SWARM_KEY_FILE): SwarmKey {
  const lines = text.split(/\r?\n/).map(l => l.trim()).filter(l => l !== '')
  const invalid = (why: string): ConfigError => new ConfigError(`Invalid swarm key "${file}": ${why} (expected three lines: ${HEADER}, /base16/, 64 hex digits; "shoal init --swarm-key" writes one)`)
  if (lines[0] !== HEADER) throw invalid(`the first line must be ${HEADER}`)
  if (lines[1] !== '/base16/') throw invalid('only /base16/ keys are supported')
  const hex = lines[2] ?? ''
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw invalid('the key must be 64 hex digits (32 bytes)')
  if (lines.length > 3) throw invalid('unexpected text after the key')
  const key = hex.toLowerCase()
  return {
    psk: new TextEncoder().encode(`${HEADER}\n/base16/\n${key}`),
    fingerprint: createHash('sha256').update(Buffer.from(key, 'hex')).digest('hex').slice(0, 8)
  }
}

/** The repo's swarm key, or undefined when the repo has none (a public network). */
export async function loadSwarmKey (repoDir: string): Promise<SwarmKey | undefined> {
  const file = path.join(repoDir, SWARM_KEY_FILE)
  const raw = await readFileIfExists(file)
  return raw == null ? undefined : parseSwarmKey(raw.toString('utf8'), file)
}
