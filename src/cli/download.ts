import type http from 'node:http'
import { pipeline } from 'node:stream/promises'
import { ShoalError } from '../errors.ts'
import type { CommandContext } from './command.ts'

/**
 * Copy a byte route's answer (ShoalClient's download: a 2xx) to standard
 * output. A reader that went away (`shoal cat CID | head`)
 * is not a failure; an answer cut short (fewer bytes than its
 * Content-Length, or a connection the daemon broke off) is an
 * ERR_TRUNCATED error.
 */
export async function writeAnswer (ctx: CommandContext, res: http.IncomingMessage, what: string): Promise<number> {
  const expected = Number(res.headers['content-length'])
  let got = 0
  res.on('data', (c: Buffer) => { got += c.length })
  try {
    await pipeline(res, ctx.io.binaryOut, { end: false })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EPIPE') {
      res.destroy()
      return 0
    }
    // the daemon broke the answer off (Node says "aborted"); anything else is this side's (the output)
    if (code === 'ECONNRESET' && (err as Error).message === 'aborted') throw truncated(what, got, undefined, err)
    throw err
  }
  if (Number.isFinite(expected) && got !== expected) throw truncated(what, got, expected)
  return 0
}

function truncated (what: string, got: number, expected: number | undefined, cause?: unknown): ShoalError {
  return new ShoalError(`The transfer of ${what} stopped after ${got}${expected == null ? '' : ` of ${expected}`} bytes (see the daemon's log)`, 'ERR_TRUNCATED', { cause })
}
