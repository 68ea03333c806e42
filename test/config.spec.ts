import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { checkConfig, CONFIG_KEYS, DEFAULT_CONFIG, formatHostPort, loadOrCreateConfig, parseConfig, parseHostPort, readConfig, writeConfigFile } from '../src/config.ts'
import { ConfigError, InvalidArgumentError } from '../src/errors.ts'
import { tempDir } from './helpers/tmp.ts'

describe('config', () => {
  describe('parseHostPort', () => {
    it('parses IPv4, names and bracketed IPv6, port 0 included', () => {
      assert.deepEqual(parseHostPort('127.0.0.1:4711'), { host: '127.0.0.1', port: 4711 })
      assert.deepEqual(parseHostPort('localhost:0'), { host: 'localhost', port: 0 })
      assert.deepEqual(parseHostPort('[::1]:80'), { host: '::1', port: 80 })
    })

    it('rejects what is not HOST:PORT', () => {
      for (const bad of ['127.0.0.1', ':4711', '127.0.0.1:65536', '::1:80', 'host:port', '']) {
        assert.throws(() => parseHostPort(bad), InvalidArgumentError, bad)
      }
    })

    it('formats back, bracketing IPv6', () => {
      assert.equal(formatHostPort({ host: '::1', port: 5 }), '[::1]:5')
      assert.equal(formatHostPort(parseHostPort('127.0.0.1:4711')), '127.0.0.1:4711')
    })
  })

  describe('parseConfig', () => {
    it('fills every absent key with the embedded default', () => {
      assert.deepEqual(parseConfig({}), { ...DEFAULT_CONFIG })
      assert.deepEqual(DEFAULT_CONFIG.listen, ['/ip4/0.0.0.0/tcp/4710'])
      assert.equal(DEFAULT_CONFIG.rpc, '127.0.0.1:4711')
      assert.equal(DEFAULT_CONFIG.mdns, true)
    })

    it('keeps given values', () => {
      const config = parseConfig({ mdns: false, rpc: '127.0.0.1:0', listen: ['/ip4/127.0.0.1/tcp/0'] })
      assert.equal(config.mdns, false)
      assert.equal(config.rpc, '127.0.0.1:0')
      assert.deepEqual(config.listen, ['/ip4/127.0.0.1/tcp/0'])
    })

    it('rejects unknown keys, wrong types and bad addresses with a clear error', () => {
      assert.throws(() => parseConfig({ lisen: [] }), /unknown key "lisen"/)
      assert.throws(() => parseConfig({ mdns: 'yes' }), /"mdns" must be true or false/)
      assert.throws(() => parseConfig({ listen: '/ip4/1.2.3.4/tcp/1' }), /"listen" must be a list of strings/)
      assert.throws(() => parseConfig({ listen: ['not an address'] }), /Invalid config: Invalid listen address "not an address"/)
      assert.throws(() => parseConfig({ bootstrap: ['/ip4/127.0.0.1/tcp/4710'] }), /must end with \/p2p\/PEER_ID/)
      assert.throws(() => parseConfig({ rpc: 'nope' }), ConfigError)
      assert.throws(() => parseConfig([]), /expected a JSON object/)
    })

    it('derives the quorum from the replicas when it is not given, and refuses one that can never be met', () => {
      assert.deepEqual([parseConfig({ replicas: 5 }).quorum, parseConfig({ replicas: 1 }).quorum, parseConfig({}).quorum], [3, 1, 2])
      assert.equal(parseConfig({ replicas: 5, quorum: 2 }).quorum, 2)
      assert.throws(() => parseConfig({ replicas: 2, quorum: 3 }), /a "quorum" of 3 can never be met with 2 "replicas"/)
    })

    it('keeps the gateway off unless asked: true is loopback port 4712, a string is HOST:PORT', () => {
      assert.equal(parseConfig({}).gateway, null)
      assert.equal(parseConfig({ gateway: false }).gateway, null)
      assert.equal(parseConfig({ gateway: true }).gateway, '127.0.0.1:4712')
      assert.equal(parseConfig({ gateway: '0.0.0.0:8080' }).gateway, '0.0.0.0:8080')
      assert.throws(() => parseConfig({ gateway: 8080 }), /"gateway" must be null \(off\), true/)
      assert.throws(() => parseConfig({ gateway: 'nowhere' }), /Invalid gateway address "nowhere": expected HOST:PORT/)
    })

    it('says for each kind of bad value which key it is and what the key takes', () => {
      const PEER = '12D3KooWJQCN6q6kEKQogNnXKiikDUg4iaUtuohDqmgj37ai5Yeg'
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ bitswap: 1 }, /"bitswap" must be true or false$/],
        [{ mdns: null }, /"mdns" must be true or false/], // null is not "the default": only gateway takes null
        [{ rpcAllowedHosts: ['a', 2] }, /"rpcAllowedHosts" must be a list of strings/],
        [{ replicas: 0 }, /"replicas" must be a whole number from 1 to 64/],
        [{ replicas: 65 }, /"replicas" must be a whole number from 1 to 64/],
        [{ quorum: 2.5 }, /"quorum" must be a whole number from 1 to 64/],
        [{ repairBytesPerSecond: 1000 }, /"repairBytesPerSecond" must be a number from 1024 to 1000000000000/],
        [{ antiEntropyIntervalSeconds: '60' }, /"antiEntropyIntervalSeconds" must be a number from 0.1 to 86400/],
        [{ scrubPeriodHours: -1 }, /"scrubPeriodHours" must be a number from 0 to 8760/],
        [{ blockstore: 'zip' }, /"blockstore" must be "packed" or "flat"/],
        [{ rpc: 4711 }, /"rpc" must be a string HOST:PORT/],
        [{ rpc: 'localhost' }, /Invalid rpc address "localhost": expected HOST:PORT/],
        [{ listen: ['/ip4/127.0.0.1/udp/1'] }, /Invalid listen address "\/ip4\/127.0.0.1\/udp\/1": shoal connects over TCP/],
        [{ bootstrap: ['/ip4/127.0.0.1/tcp/1/p2p/nobody'] }, /Invalid bootstrap address .*"nobody" is not a peer id/],
        [{ allowPeers: [PEER, 'nobody'] }, /"allowPeers" must be a list of peer ids/],
        [{ nameOwners: { team: [PEER] } }, /the "nameOwners" prefix "team" must start and end with "\/"/],
        [{ nameOwners: { '/team/': ['nobody'] } }, /"nameOwners" must be an object of name prefixes to lists of peer ids/],
        [{ nameOwners: ['/team/'] }, /"nameOwners" must be an object of name prefixes to lists of peer ids/]
      ]
      for (const [input, expected] of cases) {
        assert.throws(() => parseConfig(input), (err: Error) => err instanceof ConfigError && err.code === 'ERR_CONFIG' && expected.test(err.message) && !err.message.includes('\n'), JSON.stringify(input))
        // the same words without an exception, for a caller that explains them itself (shoal config set)
        assert.match(checkConfig(input).problem ?? '', expected)
      }
      assert.throws(() => parseConfig({ bitswap: 1 }, 'config file "x.json"'), { name: 'ConfigError', message: 'Invalid config file "x.json": "bitswap" must be true or false' })
      const PEER_OK = parseConfig({ allowPeers: [PEER], nameOwners: { '/team/': [PEER] }, bootstrap: [`/ip4/127.0.0.1/tcp/1/p2p/${PEER}`] })
      assert.deepEqual(PEER_OK.nameOwners, { '/team/': [PEER] })
    })

    it('names every problem on one line, a misspelt key first', () => {
      const { problem } = checkConfig({ replicas: 'three', mdns: 'no', lisen: [] })
      assert.equal(problem, 'unknown key "lisen"; "mdns" must be true or false; "replicas" must be a whole number from 1 to 64')
    })

    it('has a default for every key but the quorum, which follows the replicas', () => {
      assert.deepEqual(Object.keys(DEFAULT_CONFIG), CONFIG_KEYS)
      assert.equal(CONFIG_KEYS.length, 23)
      for (const key of CONFIG_KEYS) assert.notEqual(DEFAULT_CONFIG[key], undefined, key)
      assert.ok(Object.isFrozen(DEFAULT_CONFIG))
      // a fresh copy at every parse: changing one config does not change the defaults
      parseConfig({}).listen.push('/ip4/127.0.0.1/tcp/1')
      assert.deepEqual(DEFAULT_CONFIG.listen, ['/ip4/0.0.0.0/tcp/4710'])
      // whole counts of bytes and connections, as before
      assert.deepEqual([parseConfig({ storageMax: 1e9 + 0.5 }).storageMax, parseConfig({ maxConnections: 10.9 }).maxConnections], [1e9, 10])
    })

    it('takes the stream idle timeouts in milliseconds, within bounds', () => {
      assert.deepEqual([DEFAULT_CONFIG.streamIdleTimeoutMs, DEFAULT_CONFIG.sessionIdleTimeoutMs], [30_000, 20_000])
      const config = parseConfig({ streamIdleTimeoutMs: 1000, sessionIdleTimeoutMs: 500 })
      assert.deepEqual([config.streamIdleTimeoutMs, config.sessionIdleTimeoutMs], [1000, 500])
      for (const bad of [99, 1.5, '1000', 86_400_001]) assert.throws(() => parseConfig({ streamIdleTimeoutMs: bad }), /"streamIdleTimeoutMs" must be a whole number of milliseconds/)
    })
  })

  describe('config file', () => {
    it('is written with the defaults on first load and read back after', async () => {
      const { dir, cleanup } = await tempDir()
      try {
        const file = path.join(dir, 'config.json')
        const first = await loadOrCreateConfig(file)
        assert.equal(first.created, true)
        assert.deepEqual(JSON.parse(await fs.readFile(file, 'utf8')), { ...DEFAULT_CONFIG })
        await fs.writeFile(file, JSON.stringify({ ...DEFAULT_CONFIG, mdns: false }))
        const second = await loadOrCreateConfig(file)
        assert.equal(second.created, false)
        assert.equal(second.config.mdns, false)
      } finally {
        await cleanup()
      }
    })

    it('writeConfigFile writes the keys given (0600) and refuses a bad config without touching the file', async () => {
      const { dir, cleanup } = await tempDir()
      try {
        const file = path.join(dir, 'config.json')
        const config = await writeConfigFile(file, { replicas: 5, gateway: true })
        assert.deepEqual([config.quorum, config.gateway], [3, '127.0.0.1:4712'])
        assert.deepEqual(JSON.parse(await fs.readFile(file, 'utf8')), { replicas: 5, gateway: true })
        assert.equal((await fs.stat(file)).mode & 0o777, 0o600)
        const before = await fs.readFile(file, 'utf8')
        await assert.rejects(writeConfigFile(file, { replicas: 5, quorum: 6 }), /a "quorum" of 6 can never be met with 5 "replicas"/)
        assert.equal(await fs.readFile(file, 'utf8'), before)
        assert.deepEqual(await fs.readdir(dir), ['config.json'])
      } finally {
        await cleanup()
      }
    })

    it('readConfig never creates the file, and names the file in errors', async () => {
      const { dir, cleanup } = await tempDir()
      try {
        const file = path.join(dir, 'config.json')
        assert.deepEqual(await readConfig(file), { ...DEFAULT_CONFIG })
        await assert.rejects(fs.stat(file), { code: 'ENOENT' })
        await fs.writeFile(file, '{ not json')
        await assert.rejects(readConfig(file), (err: Error) => err instanceof ConfigError && err.message.includes(file))
      } finally {
        await cleanup()
      }
    })
  })
})
