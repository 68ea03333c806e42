import assert from 'node:assert/strict'
import { ConfigError } from '../../src/errors.ts'
import { isLoopbackAddress } from '../../src/net/libp2p.ts'
import { generateSwarmKey, parseSwarmKey } from '../../src/net/swarm-key.ts'
import { createLogger } from '../../src/platform/logger.ts'
import { startNetwork } from '../helpers/nodes.ts'

describe('net/swarm-key: a private network\'s key', () => {
  it('reads Kubo\'s format (CRLF and case too) and gives the key libp2p-pnet reads, with a fingerprint', () => {
    const text = generateSwarmKey()
    const key = parseSwarmKey(text)
    assert.match(key.fingerprint, /^[0-9a-f]{8}$/)
    const hex = text.split('\n')[2]
    assert.equal(new TextDecoder().decode(key.psk), `/key/swarm/psk/1.0.0/\n/base16/\n${hex}`)
    assert.equal(parseSwarmKey(text.replaceAll('\n', '\r\n').toUpperCase().replace('/KEY/SWARM/PSK/1.0.0/', '/key/swarm/psk/1.0.0/').replace('/BASE16/', '/base16/')).fingerprint, key.fingerprint)
    assert.notEqual(parseSwarmKey(generateSwarmKey()).fingerprint, key.fingerprint)
  })

  it('refuses anything else, saying what is wrong', () => {
    const hex = 'ab'.repeat(32)
    for (const [text, why] of [
      ['', /first line/],
      [`/key/swarm/psk/2.0.0/\n/base16/\n${hex}`, /first line/],
      [`/key/swarm/psk/1.0.0/\n/base64/\n${hex}`, /base16/],
      [`/key/swarm/psk/1.0.0/\n/base16/\n${hex.slice(2)}`, /64 hex digits/],
      [`/key/swarm/psk/1.0.0/\n/base16/\n${hex}\nmore`, /after the key/]
    ] as const) {
      assert.throws(() => parseSwarmKey(text, 'k'), (err: Error) => err instanceof ConfigError && why.test(err.message) && err.message.includes('"k"'))
    }
  })

  it('knows which listen addresses only this machine reaches (the daemon warns for the others without a key)', async () => {
    for (const a of ['/ip4/127.0.0.1/tcp/4710', '/ip4/127.1.2.3/tcp/1', '/ip6/::1/tcp/4710']) assert.equal(isLoopbackAddress(a), true, a)
    for (const a of ['/ip4/0.0.0.0/tcp/4710', '/ip4/10.0.0.1/tcp/4710', '/ip4/1.27.0.1/tcp/1', '/ip6/::/tcp/4710']) assert.equal(isLoopbackAddress(a), false, a)
    let logged = ''
    const net = await startNetwork(1, {}, [createLogger({ level: 'warn', write: (t) => { logged += t } })])
    try {
      assert.doesNotMatch(logged, /without a swarm key/, 'a node on 127.0.0.1 alone is not warned about')
    } finally {
      await net.stop()
    }
  })
})
