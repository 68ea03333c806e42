import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { main } from '../../src/cli/main.ts'
import type { CliIO } from '../../src/cli/io.ts'

export interface CliResult { code: number, stdout: string, stderr: string, bytes: Buffer }

/** Run the CLI in this process and capture what it prints. */
export async function runCli (argv: string[], env: Record<string, string | undefined> = {}, stdin: Uint8Array = new Uint8Array()): Promise<CliResult> {
  let stdout = ''
  let stderr = ''
  const out = new PassThrough()
  const chunks: Buffer[] = []
  out.on('data', (c: Buffer) => chunks.push(c))
  const input = new PassThrough()
  input.end(stdin)
  const io: CliIO = {
    stdout: (t) => { stdout += t },
    binaryOut: out,
    stdin: input,
    stderr: (t) => { stderr += t },
    env,
    isTTY: false
  }
  const code = await main(argv, io)
  return { code, stdout, stderr, bytes: Buffer.concat(chunks) }
}

/** The one line a failed command prints, nothing on stdout, and its exit code. */
export function assertOneLineFailure (r: CliResult, pattern: RegExp, code = 1): void {
  assert.equal(r.code, code, `exit code; stderr: ${r.stderr}`)
  assert.equal(r.stdout, '')
  assert.equal(r.bytes.length, 0)
  assert.match(r.stderr, /^[^\n]+\n$/, `one line: ${JSON.stringify(r.stderr)}`)
  assert.match(r.stderr, pattern)
}
