/**
 * Every command ends quietly when its standard output is closed before it
 * writes (`shoal name get /x | head -1`): no EPIPE stack trace, the exit
 * code it would have had. Real processes, since the fault is in how the
 * process writes to its stdout.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { startTestDaemon } from '../helpers/daemon.ts'
import type { TestDaemon } from '../helpers/daemon.ts'
import { shoalCommand } from '../helpers/processes.ts'
import { tempDir } from '../helpers/tmp.ts'

/** Run shoal with its stdout closed from the start; its exit code and what it wrote to stderr. */
async function withClosedStdout (args: string[]): Promise<{ code: number | null, stderr: string }> {
  const [cmd, ...pre] = shoalCommand()
  const child = spawn(cmd, [...pre, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DENO_NO_UPDATE_CHECK: '1' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  child.stdout.destroy()
  let stderr = ''
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, 30_000)
  const [code] = await once(child, 'close') as [number | null]
  clearTimeout(timer)
  return { code, stderr }
}

describe('cli: a closed standard output', function () {
  this.timeout(120_000)
  let d: TestDaemon
  let dir: string
  let cleanup: () => Promise<void>
  let cid: string

  before(async () => {
    ({ dir, cleanup } = await tempDir('shoal-cli-epipe-'))
    d = await startTestDaemon()
    const file = path.join(dir, 'f.bin')
    await fs.writeFile(file, crypto.randomBytes(300_000))
    const added = await d.daemon.node.files.add((async function * () { yield await fs.readFile(file) })())
    cid = added.cid
    await d.rpc('name.put', { path: '/x', cid })
  })
  after(async () => {
    await d?.stop()
    await cleanup()
  })

  it('ends every command quietly, with the exit code it would have had', async () => {
    const repo = ['--repo', d.repo]
    const commands: Array<[string[], number]> = [
      [['version'], 0],
      [['--help'], 0],
      [['add', '--help'], 0],
      [['id', ...repo], 0],
      [['peers', '--json', ...repo], 0],
      [['name', 'get', '/x', ...repo], 0],
      [['name', 'get', '/x', '--json', ...repo], 0],
      [['name', 'ls', ...repo], 0],
      [['stat', cid, ...repo], 0],
      [['cat', cid, ...repo], 0],
      [['pin', 'ls', ...repo], 0],
      [['repo', 'stat', ...repo], 0],
      [['add', '-Q', path.join(dir, 'f.bin'), ...repo], 0],
      [['name', 'get', '/missing', ...repo], 1]
    ]
    // a few at a time: each is a process start
    for (let i = 0; i < commands.length; i += 4) {
      const batch = commands.slice(i, i + 4)
      const results = await Promise.all(batch.map(async ([args]) => await withClosedStdout(args)))
      for (const [j, { code, stderr }] of results.entries()) {
        const [args, expected] = batch[j]
        assert.equal(code, expected, `shoal ${args.join(' ')}: exit ${code}, stderr: ${stderr}`)
        assert.doesNotMatch(stderr, /EPIPE|at .*\(|node:internal/, `shoal ${args.join(' ')} printed a stack: ${stderr}`)
      }
    }
  })

  it('fails, saying so, when standard output cannot be written (a full disk: /dev/full)', async () => {
    const full = await fs.open('/dev/full', 'w')
    try {
      const [cmd, ...pre] = shoalCommand()
      const child = spawn(cmd, [...pre, 'id', '--repo', d.repo], {
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DENO_NO_UPDATE_CHECK: '1' },
        stdio: ['ignore', full.fd, 'pipe']
      })
      let stderr = ''
      child.stderr?.on('data', (c: Buffer) => { stderr += c.toString() })
      const [code] = await once(child, 'close') as [number | null]
      assert.equal(code, 1)
      assert.equal(stderr, 'shoal id: cannot write to standard output (the disk is full)\n')
    } finally {
      await full.close()
    }
  })
})
