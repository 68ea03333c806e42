/** The machine and the software versions a benchmark ran on. */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

export interface Machine {
  cpu: string
  cores: number
  ramGiB: number
  kernel: string
  os: string
  arch: string
}

export function machine (): Machine {
  let cpu = os.cpus()[0]?.model ?? 'unknown'
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))
    if (m != null) cpu = m[1].trim()
  } catch {}
  let osName = os.version()
  try {
    const m = /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(fs.readFileSync('/etc/os-release', 'utf8'))
    if (m != null) osName = m[1]
  } catch {}
  return {
    cpu,
    cores: os.availableParallelism(),
    ramGiB: Math.round(os.totalmem() / 1024 ** 3 * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    os: osName,
    arch: os.arch()
  }
}

const PACKAGES = [
  'helia', '@helia/unixfs', '@helia/bitswap', '@helia/libp2p', 'blockstore-fs', 'datastore-fs',
  'libp2p', '@libp2p/tcp', '@chainsafe/libp2p-noise', '@chainsafe/libp2p-yamux', '@libp2p/kad-dht',
  'ipfs-unixfs-importer', 'ipfs-unixfs-exporter'
]

export function versions (root: string): Record<string, string> {
  const out: Record<string, string> = { node: process.version }
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }
    out.shoal = pkg.version
  } catch {}
  try {
    const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8', timeout: 5000 }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'bin'], { cwd: root, encoding: 'utf8', timeout: 5000 }).trim() !== ''
    out.shoal += ` (${rev}${dirty ? ', uncommitted changes in src/ or bin/' : ''})`
  } catch {}
  for (const name of PACKAGES) {
    try {
      out[name] = (JSON.parse(fs.readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
    } catch {
      out[name] = 'not installed'
    }
  }
  return out
}
