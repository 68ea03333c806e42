import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import crypto from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { once } from 'node:events'
import fs from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { runShoal, sendSignal, shoalCommand, startDaemonProcess } from '../helpers/processes.ts'
import type { ShoalProcess } from '../helpers/processes.ts'
import { tempDir } from '../helpers/tmp.ts'

const MIB = 1024 * 1024

/** `size` pseudo-random bytes (AES-256-CTR keystream of `seed`), 1 MiB at a time, never all in memory. */
function keystream (seed: string, size: number): Readable {
  const cipher = crypto.createCipheriv('aes-256-ctr', crypto.createHash('sha256').update(seed).digest(), Buffer.alloc(16))
  const zeros = Buffer.alloc(MIB)
  return Readable.from((function * () {
    for (let left = size; left > 0; left -= MIB) yield cipher.update(zeros.subarray(0, Math.min(MIB, left)))
  })())
}

async function sha256File (file: string): Promise<string> {
  const hash = crypto.createHash('sha256')
  await pipeline(createReadStream(file), hash)
  return hash.digest('hex')
}

/**
 * Runs a shoal command and hashes its stdout as it streams (`shoal cat CID | sha256sum`);
 * with `stopAfter`, closes the pipe after that many bytes (`| head -c N`).
 */
async function shoalPipedToSha256 (args: string[], timeoutMs = 60_000, stopAfter = Infinity): Promise<{ code: number | string, sha256: string, bytes: number, stderr: string }> {
  const [cmd, ...pre] = shoalCommand()
  const child = spawn(cmd, [...pre, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DENO_NO_UPDATE_CHECK: '1' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  let stderr = ''
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const hash = crypto.createHash('sha256')
  let bytes = 0
  child.stdout.on('data', (c: Buffer) => {
    bytes += c.length
    hash.update(c)
    if (bytes >= stopAfter) child.stdout.destroy() // close our end of the pipe, as `head` does
  })
  try {
    const [code, signal] = await once(child, 'close') as [number | null, string | null]
    return { code: code ?? signal ?? 'unknown', sha256: hash.digest('hex'), bytes, stderr }
  } finally {
    clearTimeout(timer)
  }
}

describe(`e2e files: one daemon process (${shoalCommand().join(' ')})`, function () {
  this.timeout(120_000)
  let dir: string
  let cleanup: () => Promise<void>
  let daemon: ShoalProcess | undefined
  let repo: string

  before(async () => {
    ({ dir, cleanup } = await tempDir('shoal-e2e-files-'))
    repo = path.join(dir, 'repo')
    daemon = (await startDaemonProcess(repo, { args: ['--replicas', '1'] })).proc
  })

  after(async () => {
    if (daemon != null && daemon.child.exitCode == null) {
      sendSignal(daemon, 'SIGTERM')
      const timer = setTimeout(() => daemon?.child.kill('SIGKILL'), 10_000)
      await daemon.exited
      clearTimeout(timer)
    }
    await cleanup()
  })

  it('shoal add a 64 MiB file, then shoal cat CID | sha256 equals the file\'s sha256; get -o too', async () => {
    const file = path.join(dir, 'big.iso')
    const hash = crypto.createHash('sha256')
    const source = keystream('e2e-files', 64 * MIB)
    source.on('data', (c: Buffer) => hash.update(c))
    await pipeline(source, createWriteStream(file))
    const expected = hash.digest('hex')

    const add = await runShoal(['add', '-Q', file, '--repo', repo], 60_000)
    assert.equal(add.code, 0, add.stderr)
    const cid = add.stdout.trim()
    assert.match(cid, /^bafybei[a-z2-7]{52}$/)
    assert.equal(add.stderr, '')
    // the same CID without the daemon
    const offline = await runShoal(['add', '-Q', '-n', file, '--repo', path.join(dir, 'no-repo')], 60_000)
    assert.equal(offline.stdout.trim(), cid)

    const cat = await shoalPipedToSha256(['cat', cid, '--repo', repo])
    assert.equal(cat.code, 0, cat.stderr)
    assert.equal(cat.bytes, 64 * MIB)
    assert.equal(cat.sha256, expected)
    assert.equal(cat.stderr, '')

    // a reader that stops early (`shoal cat CID | head -c 10`): cat ends quietly with 0
    const head = await shoalPipedToSha256(['cat', cid, '--repo', repo], 60_000, 10)
    assert.equal(head.stderr, '')
    assert.equal(head.code, 0)

    const out = path.join(dir, 'got.iso')
    const get = await runShoal(['get', cid, '-o', out, '--repo', repo], 60_000)
    assert.equal(get.code, 0, get.stderr)
    assert.equal(await sha256File(out), expected)
    await fs.rm(out)
  })

  it('errors from a real process: one line on stderr, exit 1', async () => {
    for (const args of [['add', path.join(dir, 'missing.bin')], ['cat', 'not-a-cid'], ['cat', 'bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq']]) {
      const r = await runShoal([...args, '--repo', repo])
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`)
      assert.equal(r.stdout, '')
      assert.match(r.stderr, /^[^\n]+\n$/, `${args.join(' ')}: ${r.stderr}`)
    }
  })
})
