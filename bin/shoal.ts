#!/usr/bin/env -S node --max-semi-space-size=2
// The shoal entry point: runtime fixes first, then the CLI. The V8 flag keeps
// the young generation small: buffers that die young (network reads, Noise
// messages, HTTP pieces) are then freed by cheap scavenges instead of piling
// up until a full GC, and a daemon streaming gigabytes stays under 300 MB of
// RSS (bench/). npm start and the binary pass the same flags
// (scripts/daemon-flags.ts reads them from this line).
import '../src/platform/shim.ts'
import { main } from '../src/cli/main.ts'

main(process.argv.slice(2)).then(code => {
  process.exitCode = code
}, err => {
  process.stderr.write(`shoal: ${(err as Error)?.stack ?? String(err)}\n`)
  process.exitCode = 1
})
