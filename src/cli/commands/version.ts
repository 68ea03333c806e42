import { runtimeDescription } from '../../platform/runtime.ts'
import { VERSION } from '../../version.ts'
import { jsonOption } from '../command.ts'
import type { Command } from '../command.ts'
import { printJson } from '../io.ts'

export const versionCommand: Command = {
  name: 'version',
  summary: 'Show the version of this shoal program (no daemon needed).',
  usage: 'version [--json]',
  options: { json: jsonOption },
  async run (ctx) {
    const runtime = runtimeDescription()
    if (ctx.values.json === true) {
      printJson(ctx.io, { version: VERSION, runtime, platform: `${process.platform}-${process.arch}` })
    } else {
      ctx.io.stdout(`shoal ${VERSION} (${runtime}, ${process.platform}-${process.arch})\n`)
    }
    return 0
  }
}
