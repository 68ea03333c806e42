import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { DEFAULT_CONFIG, parseConfig } from '../../src/config.ts'
import { runCli } from '../helpers/cli.ts'
import { startTestDaemon } from '../helpers/daemon.ts'
import type { TestDaemon } from '../helpers/daemon.ts'
import { tempDir } from '../helpers/tmp.ts'

describe('cli: config show|get|set|unset', function () {
  this.timeout(30_000)
  let t: { dir: string, cleanup: () => Promise<void> }
  let file: string
  const readFile = async (): Promise<string> => await fs.readFile(file, 'utf8')
  beforeEach(async () => {
    t = await tempDir('shoal-config-')
    file = path.join(t.dir, 'config.json')
  })
  afterEach(async () => { await t.cleanup() })

  it('show prints every key as the daemon reads it, defaults filled in and marked; --json the same as an object', async () => {
    await fs.writeFile(file, JSON.stringify({ replicas: 5, gateway: true }))
    const json = await runCli(['config', 'show', '--json', '--repo', t.dir])
    assert.equal(json.code, 0, json.stderr)
    assert.deepEqual(JSON.parse(json.stdout), { ...DEFAULT_CONFIG, replicas: 5, quorum: 3, gateway: '127.0.0.1:4712' })
    const text = await runCli(['config', 'show', '--repo', t.dir])
    assert.equal(text.code, 0, text.stderr)
    const lines = text.stdout.trimEnd().split('\n')
    assert.equal(lines.length, Object.keys(DEFAULT_CONFIG).length)
    assert.match(text.stdout, /^replicas +5$/m)
    assert.match(text.stdout, /^quorum +3 +\(default\)$/m)
    assert.match(text.stdout, /^gateway +"127\.0\.0\.1:4712"$/m)
    assert.match(text.stdout, /^listen +\["\/ip4\/0\.0\.0\.0\/tcp\/4710"\] +\(default\)$/m)
  })

  it('set and get round trip: JSON values, plain strings, the file keeps the user\'s keys (0600)', async () => {
    await fs.writeFile(file, JSON.stringify({ mdns: false }, null, 2))
    const set = async (key: string, value: string): Promise<void> => {
      const r = await runCli(['config', 'set', key, value, '--repo', t.dir])
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, new RegExp(`^${key} = .* in ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n$`))
    }
    const get = async (key: string, ...flags: string[]): Promise<string> => {
      const r = await runCli(['config', 'get', key, ...flags, '--repo', t.dir])
      assert.equal(r.code, 0, r.stderr)
      return r.stdout
    }
    await set('replicas', '5')
    await set('rpc', '127.0.0.1:5000') // not JSON: a string
    await set('listen', '["/ip4/127.0.0.1/tcp/4800","/ip6/::1/tcp/4800"]')
    await set('gateway', 'true')
    assert.equal(await get('replicas'), '5\n')
    assert.equal(await get('quorum'), '3\n', 'the quorum follows the replicas')
    assert.equal(await get('rpc'), '127.0.0.1:5000\n')
    assert.equal(await get('rpc', '--json'), '"127.0.0.1:5000"\n')
    assert.deepEqual(JSON.parse(await get('listen', '--json')), ['/ip4/127.0.0.1/tcp/4800', '/ip6/::1/tcp/4800'])
    assert.equal(await get('gateway'), '127.0.0.1:4712\n')
    assert.equal(await get('mdns'), 'false\n')
    // the file holds what was set, as given, and nothing more
    assert.deepEqual(JSON.parse(await readFile()), {
      mdns: false, replicas: 5, rpc: '127.0.0.1:5000', listen: ['/ip4/127.0.0.1/tcp/4800', '/ip6/::1/tcp/4800'], gateway: true
    })
    assert.equal((await fs.stat(file)).mode & 0o777, 0o600)
    assert.deepEqual((await fs.readdir(t.dir)).sort(), ['config.json'], 'no temp file left behind')
    // what the daemon will read
    assert.equal(parseConfig(JSON.parse(await readFile())).quorum, 3)
  })

  it('set --json says what the key is now; unset puts a key back to its default', async () => {
    await fs.writeFile(file, JSON.stringify({ replicas: 5, quorum: 5 }))
    const r = await runCli(['config', 'set', 'gateway', '"0.0.0.0:8080"', '--json', '--repo', t.dir])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout), { key: 'gateway', value: '0.0.0.0:8080', file, changed: true, daemon: false })
    const unset = await runCli(['config', 'unset', 'quorum', '--json', '--repo', t.dir])
    assert.deepEqual(JSON.parse(unset.stdout), { key: 'quorum', value: 3, file, changed: true, daemon: false })
    assert.deepEqual(JSON.parse(await readFile()), { replicas: 5, gateway: '0.0.0.0:8080' })
    const again = await runCli(['config', 'unset', 'quorum', '--repo', t.dir])
    assert.equal(again.code, 0, again.stderr)
    assert.match(again.stdout, /quorum is not set in .*: it has its default/)
  })

  it('set refuses a bad value in shoal\'s words and leaves the file as it was', async () => {
    const original = JSON.stringify({ replicas: 3, mdns: false }, null, 2)
    await fs.writeFile(file, original)
    const cases: Array<[string, string, RegExp]> = [
      ['replicas', 'three', /^Cannot set "replicas" to three: "replicas" must be a whole number from 1 to 64 \(.*config\.json is unchanged\)\n$/],
      ['replicas', '0', /"replicas" must be a whole number from 1 to 64/],
      ['quorum', '4', /a "quorum" of 4 can never be met with 3 "replicas"/],
      ['mdns', 'yes', /"mdns" must be true or false/],
      ['rpc', 'localhost', /Invalid rpc address "localhost": expected HOST:PORT/],
      ['listen', '/ip4/127.0.0.1/tcp/1', /"listen" must be a list of strings/],
      ['bootstrap', '["/ip4/127.0.0.1/tcp/1"]', /Invalid bootstrap address .*must end with \/p2p\/PEER_ID/],
      ['blockstore', 'zip', /"blockstore" must be "packed" or "flat"/],
      ['gateway', '8080', /"gateway" must be null \(off\), true/]
    ]
    for (const [key, value, expected] of cases) {
      const r = await runCli(['config', 'set', key, value, '--repo', t.dir])
      assert.equal(r.code, 1, `${key} ${value}`)
      assert.match(r.stderr, expected)
      assert.equal(r.stderr.split('\n').length, 2, 'one line')
      assert.equal(r.stdout, '')
      assert.equal(await readFile(), original, `${key} ${value}: the file is unchanged`)
    }
    const json = await runCli(['config', 'set', 'replicas', '99', '--json', '--repo', t.dir])
    assert.equal(JSON.parse(json.stdout).error.code, 'ERR_CONFIG')
    assert.equal(await readFile(), original)
  })

  it('refuses an unknown key for get, set and unset, and says where the keys are', async () => {
    await fs.writeFile(file, '{}')
    for (const args of [['get', 'lisen'], ['set', 'lisen', '[]'], ['unset', 'lisen']]) {
      const r = await runCli(['config', ...args, '--repo', t.dir])
      assert.equal(r.code, 1, args.join(' '))
      assert.equal(r.stderr, 'Unknown config key "lisen": "shoal config show" lists the keys, docs/config.md says what each means\n')
    }
    assert.equal(await readFile(), '{}')
  })

  it('a bad file: show and get say which file and what is wrong; set can fix it', async () => {
    await fs.writeFile(file, JSON.stringify({ mdns: 'yes' }))
    for (const args of [['show'], ['get', 'rpc']]) {
      const r = await runCli(['config', ...args, '--repo', t.dir])
      assert.equal(r.code, 1)
      assert.equal(r.stderr, `Invalid config file "${file}": "mdns" must be true or false\n`)
    }
    assert.equal((await runCli(['config', 'set', 'mdns', 'false', '--repo', t.dir])).code, 0)
    assert.deepEqual(JSON.parse(await readFile()), { mdns: false })
    await fs.writeFile(file, '[1]')
    assert.match((await runCli(['config', 'set', 'mdns', 'false', '--repo', t.dir])).stderr, /Invalid config file .*: expected a JSON object/)
  })

  it('finds the repo through $SHOAL_HOME; shows the defaults of a repo not made yet, but never makes one', async () => {
    await fs.writeFile(file, JSON.stringify({ scrubPeriodHours: 0 }))
    assert.equal((await runCli(['config', 'get', 'scrubPeriodHours'], { SHOAL_HOME: t.dir })).stdout, '0\n')
    const absent = path.join(t.dir, 'absent')
    const show = await runCli(['config', 'show', '--json', '--repo', absent])
    assert.deepEqual(JSON.parse(show.stdout), { ...DEFAULT_CONFIG })
    const set = await runCli(['config', 'set', 'mdns', 'false', '--repo', absent])
    assert.equal(set.code, 1)
    assert.match(set.stderr, /No shoal repo at .*absent \("shoal init" makes one\)/)
    await assert.rejects(fs.stat(absent), { code: 'ENOENT' })
  })

  it('rejects a bad command line with exit 2', async () => {
    for (const args of [[], ['edit'], ['get'], ['set', 'mdns'], ['show', 'mdns'], ['unset']]) {
      const r = await runCli(['config', ...args, '--repo', t.dir])
      assert.equal(r.code, 2, args.join(' '))
      assert.match(r.stderr, /shoal config --help/)
    }
  })

  describe('with a daemon running on the repo', () => {
    let d: TestDaemon | undefined
    afterEach(async () => {
      await d?.daemon.stop()
      d = undefined
    })

    it('set says that the daemon reads the change at its next start, and it does', async () => {
      d = await startTestDaemon({ repo: t.dir })
      const r = await runCli(['config', 'set', 'scrubPeriodHours', '0', '--repo', t.dir])
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, new RegExp(`the daemon running on this repo \\(pid ${process.pid}\\) reads it at its next start`))
      const json = await runCli(['config', 'set', 'repairGraceSeconds', '60', '--json', '--repo', t.dir])
      assert.equal(JSON.parse(json.stdout).daemon, true)
      assert.equal(d.daemon.config.scrubPeriodHours, 168, 'the running daemon keeps what it read')
      await d.daemon.stop()
      d = await startTestDaemon({ repo: t.dir })
      assert.deepEqual([d.daemon.config.scrubPeriodHours, d.daemon.config.repairGraceSeconds], [0, 60])
      await d.daemon.stop()
      d = undefined
      // stopped: api.json is gone, and so is the note
      const stopped = await runCli(['config', 'set', 'scrubPeriodHours', '24', '--repo', t.dir])
      assert.equal(stopped.code, 0, stopped.stderr)
      assert.doesNotMatch(stopped.stdout, /daemon/)
    })
  })
})
