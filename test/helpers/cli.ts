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
