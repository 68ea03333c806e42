/**
 * The node's libp2p identity: an Ed25519 key kept in the repo (mode 0600),
 * created on first start.
 */
import fs from 'node:fs/promises'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { RepoError } from '../errors.ts'
import { readFileIfExists, writeFileAtomic } from '../platform/files.ts'

export async function loadOrCreateIdentity (file: string): Promise<{ privateKey: PrivateKey, created: boolean }> {
  const raw = await readFileIfExists(file)
  if (raw != null) {
    try {
      const privateKey = privateKeyFromProtobuf(raw)
      // an identity key must never be readable by others, whatever wrote it
      const stat = await fs.stat(file)
      if ((stat.mode & 0o077) !== 0) await fs.chmod(file, 0o600)
      return { privateKey, created: false }
    } catch (err) {
      throw new RepoError(`Cannot read the identity key "${file}": ${(err as Error).message}`, { cause: err })
    }
  }
  const privateKey = await generateKeyPair('Ed25519')
  await writeFileAtomic(file, privateKeyToProtobuf(privateKey), 0o600)
  return { privateKey, created: true }
}
