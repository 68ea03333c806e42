/**
 * Every error a user can cause is one line in shoal's words: no stack
 * trace, no library's own message or advice about its options.
 */
import assert from 'node:assert/strict'
import net from 'node:net'
import { runCli } from '../helpers/cli.ts'
import type { CliResult } from '../helpers/cli.ts'
import { startTestDaemon } from '../helpers/daemon.ts'
import type { TestDaemon } from '../helpers/daemon.ts'
import { tempDir } from '../helpers/tmp.ts'

/** Words of the libraries under shoal that must never reach a user. */
const LIBRARY_WORDS = /faultTolerance|multibase decoder|varint|Unexpected end of data|UnsupportedListenAddress|String multiaddr|Value must be|\n\s+at |node:internal/

function assertOneLine (r: CliResult, pattern: RegExp, what: string): void {
  assert.equal(r.code, 1, `${what}: exit code; stderr: ${r.stderr}`)
  assert.match(r.stderr, /^[^\n]+\n$/, `${what}: one line: ${JSON.stringify(r.stderr)}`)
  assert.doesNotMatch(r.stderr, LIBRARY_WORDS, what)
  assert.match(r.stderr, pattern, what)
}

describe('cli: errors in shoal\'s words', function () {
  this.timeout(60_000)
  let d: TestDaemon
  let dir: string
  let cleanup: () => Promise<void>
  let taken: net.Server
  let takenPort: number

  before(async () => {
    ({ dir, cleanup } = await tempDir('shoal-cli-errors-'))
    d = await startTestDaemon()
    taken = net.createServer()
    await new Promise<void>(resolve => { taken.listen(0, '127.0.0.1', resolve) })
    takenPort = (taken.address() as net.AddressInfo).port
  })
  after(async () => {
    await new Promise(resolve => taken?.close(resolve))
    await d?.stop()
    await cleanup()
  })

  it('bad CIDs, names and context tokens', async () => {
    const repo = ['--repo', d.repo]
    const cases: Array<[string[], RegExp]> = [
      [['cat', 'xyz'], /^Invalid CID "xyz": "x" is not the prefix of an encoding shoal reads/],
      [['cat', 'zzzzz'], /^Invalid CID "zzzzz": its characters do not decode to a CID/],
      [['stat', 'Qmxxxx'], /^Invalid CID "Qmxxxx": not a valid CIDv0/],
      [['ls', 'bafyabc'], /^Invalid CID "bafyabc": /],
      [['pin', 'add', 'mfoo'], /^Invalid CID "mfoo": /],
      [['name', 'put', '/x', 'notacid'], /^Invalid CID "notacid": /],
      [['name', 'put', '/x', 'bafkreiey5jxe6ilpf62lnh77tm5ejbbmhbugzjuf6p2v3remlu73ced34q', '--size', '1', '--context', 'garbage'], /^Invalid context token: it is not one a read gave/],
      [['get', 'bafkreiey5jxe6ilpf62lnh77tm5ejbbmhbugzjuf6p2v3remlu73ced34q', '-o', '/nonexistent-dir/x'], /^(Cannot write "\/nonexistent-dir\/x": no such file or directory|.*not found|.*Cannot fetch)/]
    ]
    for (const [args, pattern] of cases) assertOneLine(await runCli([...args, ...repo]), pattern, args.join(' '))
  })

  it('bad daemon addresses, and ports that cannot be opened', async () => {
    const daemon = (...args: string[]): string[] => ['daemon', '--repo', dir, '--no-mdns', '--log-level', 'error', ...args]
    const cases: Array<[string[], RegExp]> = [
      [daemon('--listen', 'garbage'), /^Invalid --listen address "garbage": a multiaddr starts with "\/"/],
      [daemon('--listen', '/ip4/127.0.0.1/udp/5'), /shoal connects over TCP/],
      [daemon('--listen', '/ip4/127.0.0.1/tcp/99999'), /^Invalid --listen address .*: it is not a multiaddr/],
      [daemon('--listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap', '/ip4/127.0.0.1/tcp/1/p2p/notapeer'), /"notapeer" is not a peer id/],
      [daemon('--listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap', '/ip4/127.0.0.1/tcp/1'), /it must end with \/p2p\/PEER_ID/],
      // 192.0.2.1 is a documentation address: binding to it fails at once, nothing is sent
      [daemon('--listen', '/ip4/192.0.2.1/tcp/4710', '--rpc', '127.0.0.1:0'), /^Cannot listen on \/ip4\/192\.0\.2\.1\/tcp\/4710 \((that IP address is not one of this machine's|the system refused it as invalid: is that IP address one of this machine's\?)\)/],
      [daemon('--listen', `/ip4/127.0.0.1/tcp/${takenPort}`, '--rpc', '127.0.0.1:0'), /^Cannot listen on \/ip4\/127\.0\.0\.1\/tcp\/\d+ \(the address is already in use/],
      [daemon('--listen', '/ip4/127.0.0.1/tcp/0', '--rpc', `127.0.0.1:${takenPort}`), /^Cannot open the RPC port on 127\.0\.0\.1:\d+: the address is already in use/],
      [daemon('--listen', '/ip4/127.0.0.1/tcp/0', '--replicas', '2', '--quorum', '3'), /A quorum of 3 can never be met with 2 replicas/]
    ]
    for (const [args, pattern] of cases) assertOneLine(await runCli(args), pattern, args.join(' '))
  })

  it('a daemon that failed to start left its repo clean: the next start is not an unclean shutdown', async () => {
    const lines: string[] = []
    const r = await runCli(['daemon', '--repo', dir, '--no-mdns', '--listen', `/ip4/127.0.0.1/tcp/${takenPort}`, '--rpc', '127.0.0.1:0', '--log-level', 'info'])
    assert.equal(r.code, 1)
    lines.push(r.stderr)
    const again = await startTestDaemon({ repo: dir, logger: { debug () {}, info: (m: string) => { lines.push(m) }, warn: (m: string) => { lines.push(m) }, error: (m: string) => { lines.push(m) }, child () { return this } } })
    await again.stop()
    assert.ok(!lines.some(l => l.includes('unclean shutdown')), lines.join('\n'))
  })
})
