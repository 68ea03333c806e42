import { main } from '../../src/cli/main.ts'
import type { CliIO } from '../../src/cli/io.ts'

export interface CliResult { code: number, stdout: string, stderr: string }

/** Run the CLI in this process and capture what it prints. */
export async function runCli (argv: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  let stdout = ''
  let stderr = ''
  const io: CliIO = {
    stdout: (t) => { stdout += t },
    stderr: (t) => { stderr += t },
    env,
    isTTY: false
  }
  const code = await main(argv, io)
  return { code, stdout, stderr }
}
