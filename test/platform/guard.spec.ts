import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import { ESCAPED_ERROR_MESSAGE } from '../../src/platform/guard.ts'
import { isDeno } from '../../src/platform/runtime.ts'

const CHILD = path.resolve(import.meta.dirname, '../fixtures/processes/guarded.ts')

describe('platform/guard: the daemon\'s last line', () => {
  it('logs an escaped rejection and an escaped exception at error, with their stacks, and the process keeps running', async () => {
    const args = isDeno ? ['run', '-A', CHILD] : [CHILD]
    const { stdout, stderr } = await promisify(execFile)(process.execPath, args, { env: { ...process.env, DENO_NO_UPDATE_CHECK: '1' }, timeout: 30_000 })
    assert.equal(stdout, 'still serving\n')
    assert.equal(stderr.split(ESCAPED_ERROR_MESSAGE).length, 3, stderr)
    // each with the stack that says where it came from
    assert.match(stderr, /ERROR .*kind=unhandled rejection error=Error: boom: a rejection nobody handled\n\s+at .*guarded\.ts/)
    assert.match(stderr, /ERROR .*kind=uncaught exception error=Error: boom: an exception from a timer\n\s+at .*guarded\.ts/)
  })
})
