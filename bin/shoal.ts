#!/usr/bin/env -S node --max-semi-space-size=16
// The shoal entry point: runtime fixes first, then the CLI. The V8 flag keeps
// the young generation small, so a daemon streaming gigabytes stays under
// 300 MB of RSS (bench/memory-2gib.ts); npm start and the binary pass it too.
import '../src/platform/shim.ts'
import { main } from '../src/cli/main.ts'

main(process.argv.slice(2)).then(code => {
  process.exitCode = code
}, err => {
  process.stderr.write(`shoal: ${(err as Error)?.stack ?? String(err)}\n`)
  process.exitCode = 1
})
