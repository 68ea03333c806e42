#!/usr/bin/env node
// The shoal entry point: runtime fixes first, then the CLI.
import '../src/platform/shim.ts'
import { main } from '../src/cli/main.ts'

main(process.argv.slice(2)).then(code => {
  process.exitCode = code
}, err => {
  process.stderr.write(`shoal: ${(err as Error)?.stack ?? String(err)}\n`)
  process.exitCode = 1
})
