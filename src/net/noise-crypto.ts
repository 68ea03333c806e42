/**
 * Noise's ChaCha20-Poly1305 with one key object per session key.
 *
 * @chainsafe/libp2p-noise's default passes the raw 32-byte key to
 * `createCipheriv` for every message (at most 64 KiB), and Node then builds a
 * key object each time: about two thirds of the setup of each message, some
 * 0.1 s of CPU per 256 MiB on each side. A session's key is one Uint8Array
 * for the connection's life, so its key object is made once and kept with it
 * (and made again should the bytes ever change). Everything else, short
 * messages included, is the library's default.
 */
import crypto from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { Uint8ArrayList } from 'uint8arraylist'
import { equals } from 'uint8arrays/equals'

const ALGORITHM = 'chacha20-poly1305'
const TAG_BYTES = 16
/** below this the default's WebAssembly implementation is faster (its own threshold) */
const SMALL_MESSAGE = 1200

type NoiseBytes = ReturnType<ICryptoInterface['chaCha20Poly1305Decrypt']>

const keys = new WeakMap<Uint8Array, { bytes: Uint8Array, key: KeyObject }>()

function keyObject (k: Uint8Array): KeyObject {
  const known = keys.get(k)
  if (known != null && equals(known.bytes, k)) return known.key
  const key = crypto.createSecretKey(k)
  keys.set(k, { bytes: Uint8Array.from(k), key })
  return key
}

export const noiseCrypto: ICryptoInterface = {
  ...defaultCrypto,

  chaCha20Poly1305Encrypt (plaintext, nonce, ad, k) {
    if (plaintext.byteLength < SMALL_MESSAGE) return defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k)
    const cipher = crypto.createCipheriv(ALGORITHM, keyObject(k), nonce, { authTagLength: TAG_BYTES })
    cipher.setAAD(ad, { plaintextLength: plaintext.byteLength })
    const parts: Uint8Array[] = []
    for (const part of plaintext instanceof Uint8Array ? [plaintext] : plaintext) parts.push(cipher.update(part))
    parts.push(cipher.final(), cipher.getAuthTag())
    // one buffer: each part would be a write to the socket of its own
    return Buffer.concat(parts, plaintext.byteLength + TAG_BYTES)
  },

  chaCha20Poly1305Decrypt (ciphertext, nonce, ad, k, dst) {
    if (ciphertext.byteLength < SMALL_MESSAGE) return defaultCrypto.chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst)
    const length = ciphertext.byteLength - TAG_BYTES
    const decipher = crypto.createDecipheriv(ALGORITHM, keyObject(k), nonce, { authTagLength: TAG_BYTES })
    decipher.setAAD(ad, { plaintextLength: length })
    decipher.setAuthTag(ciphertext.subarray(length))
    if (ciphertext instanceof Uint8Array) {
      const text = decipher.update(ciphertext.subarray(0, length))
      decipher.final()
      return text
    }
    const text = new Uint8ArrayList()
    for (const part of ciphertext.sublist(0, length)) text.append(decipher.update(part))
    decipher.final()
    // the library's own (older) uint8arraylist: the two recognise each other's lists (Symbol.for)
    return text as unknown as NoiseBytes
  }
}
