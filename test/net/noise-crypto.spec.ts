import { strict as assert } from 'node:assert'
import crypto from 'node:crypto'
import { pureJsCrypto } from '@chainsafe/libp2p-noise/crypto'
import { Uint8ArrayList } from 'uint8arraylist'
import { noiseCrypto } from '../../src/net/noise-crypto.ts'

const flat = (x: Uint8Array | { subarray: () => Uint8Array }): Uint8Array => x instanceof Uint8Array ? x : x.subarray()

describe('net/noise-crypto: ChaCha20-Poly1305 for Noise', () => {
  const k = crypto.randomBytes(32)
  const ad = crypto.randomBytes(32)
  const nonce = (n: number): Uint8Array => { const b = new Uint8Array(12); new DataView(b.buffer).setUint32(4, n, true); return b }

  for (const size of [0, 100, 1199, 1200, 4096, 65519]) {
    it(`agrees with the reference implementation both ways (${size} bytes)`, () => {
      const text = crypto.randomBytes(size)
      const mine = flat(noiseCrypto.chaCha20Poly1305Encrypt(text, nonce(7), ad, k))
      const theirs = flat(pureJsCrypto.chaCha20Poly1305Encrypt(text, nonce(7), ad, k))
      assert.deepEqual(Buffer.from(mine), Buffer.from(theirs))
      assert.deepEqual(Buffer.from(flat(noiseCrypto.chaCha20Poly1305Decrypt(theirs, nonce(7), ad, k))), text)
      assert.deepEqual(Buffer.from(flat(pureJsCrypto.chaCha20Poly1305Decrypt(mine, nonce(7), ad, k))), text)
    })
  }

  it('takes messages in pieces (Uint8ArrayList) each way', () => {
    const text = crypto.randomBytes(70_000)
    const pieces = new Uint8ArrayList(text.subarray(0, 30_000), text.subarray(30_000)) as any
    const sealed = flat(noiseCrypto.chaCha20Poly1305Encrypt(pieces, nonce(1), ad, k))
    assert.deepEqual(Buffer.from(sealed), Buffer.from(flat(pureJsCrypto.chaCha20Poly1305Encrypt(text, nonce(1), ad, k))))
    const sealedPieces = new Uint8ArrayList(sealed.subarray(0, 12_345), sealed.subarray(12_345)) as any
    assert.deepEqual(Buffer.from(flat(noiseCrypto.chaCha20Poly1305Decrypt(sealedPieces, nonce(1), ad, k))), text)
  })

  it('refuses a message whose bytes, nonce or key are not the sender\'s', () => {
    const text = crypto.randomBytes(8000)
    const sealed = Buffer.from(flat(noiseCrypto.chaCha20Poly1305Encrypt(text, nonce(3), ad, k)))
    const tampered = Buffer.from(sealed); tampered[100] ^= 1
    assert.throws(() => noiseCrypto.chaCha20Poly1305Decrypt(tampered, nonce(3), ad, k))
    assert.throws(() => noiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce(4), ad, k))
    assert.throws(() => noiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce(3), ad, crypto.randomBytes(32)))
  })

  it('uses the key\'s current bytes, even when the same array is given new ones', () => {
    const key = Uint8Array.from(crypto.randomBytes(32))
    const text = crypto.randomBytes(5000)
    noiseCrypto.chaCha20Poly1305Encrypt(text, nonce(0), ad, key) // its key object is now kept
    key.set(crypto.randomBytes(32))
    const sealed = flat(noiseCrypto.chaCha20Poly1305Encrypt(text, nonce(0), ad, key))
    assert.deepEqual(Buffer.from(sealed), Buffer.from(flat(pureJsCrypto.chaCha20Poly1305Encrypt(text, nonce(0), ad, key))))
  })
})
