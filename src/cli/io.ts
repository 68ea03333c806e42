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
}

/**
 * Writes to `stream` until it fails (EPIPE: the reader went away, as in
 * `shoal name ls | head -1`); then drops what is written, so a command ends
 * quietly instead of dying of an unhandled 'error' event with a stack trace.
 */
function quietWhenClosed (stream: NodeJS.WriteStream): (text: string) => void {
  let closed = false
  stream.on('error', () => { closed = true })
  return (text) => {
    if (!closed && !stream.destroyed) stream.write(text)
  }
}

export const processIO: CliIO = {
  stdout: quietWhenClosed(process.stdout),
  binaryOut: process.stdout,
  stdin: process.stdin,
  stderr: quietWhenClosed(process.stderr),
  env: process.env,
  isTTY: process.stdout.isTTY === true
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
