/**
 * The CLI's window on the world: where it writes, what environment it sees.
 * Commands write through this (never to process.stdout directly), so tests
 * can run them in-process and read what they printed.
 */
export interface CliIO {
  stdout(text: string): void
  /** for bytes (cat); text goes through stdout() */
  binaryOut: NodeJS.WritableStream
  stdin: NodeJS.ReadableStream
  stderr(text: string): void
  env: Record<string, string | undefined>
  /** stdout is a terminal (progress bars, colours) */
  isTTY: boolean
  /** why writing to stdout failed, other than a reader that went away (a full disk...); the command then fails */
  outputError?(): string | undefined
}

/**
 * Writes to `stream` until it fails; then drops what is written, so that a
 * command never dies of an unhandled 'error' event with a stack trace. A
 * reader that went away (EPIPE: `shoal name ls | head -1`) ends it quietly;
 * any other failure (a full disk under a redirect) is kept for `failure()`.
 */
function guardedWriter (stream: NodeJS.WriteStream): { write(text: string): void, failure(): string | undefined } {
  let closed = false
  let failure: string | undefined
  const fail = (err: NodeJS.ErrnoException): void => {
    closed = true
    if (err.code !== 'EPIPE') failure ??= err.code ?? err.message
  }
  stream.on('error', fail)
  return {
    write: (text) => {
      if (closed || stream.destroyed) return
      try {
        stream.write(text)
      } catch (err) {
        // (Deno throws from the write instead of emitting 'error')
        fail(err as NodeJS.ErrnoException)
      }
    },
    failure: () => failure
  }
}

const out = guardedWriter(process.stdout)
const err = guardedWriter(process.stderr)

export const processIO: CliIO = {
  stdout: out.write,
  binaryOut: process.stdout,
  stdin: process.stdin,
  stderr: err.write,
  env: process.env,
  isTTY: process.stdout.isTTY === true,
  outputError: out.failure
}

export function printJson (io: CliIO, value: unknown): void {
  io.stdout(JSON.stringify(value, null, 2) + '\n')
}

/** Left-aligned columns, two spaces apart. */
export function formatTable (rows: string[][]): string {
  const widths: number[] = []
  for (const row of rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length) })
  return rows.map(row => row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i])).join('  ')).join('\n') + '\n'
}
