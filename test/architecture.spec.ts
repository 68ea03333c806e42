/**
 * Keeps the layering of docs/architecture.md true: each layer of src/ may
 * import only the layers below it, and rpc/, cli/ and daemon/ never import
 * libp2p. Type-only imports are erased at run time and are not arrows.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'

const SRC = path.resolve(import.meta.dirname, '../src')

const ALLOWED: Record<string, string[]> = {
  errors: [],
  version: [],
  platform: ['errors'],
  config: ['errors', 'platform'],
  content: ['errors'],
  store: ['errors', 'platform', 'content'],
  net: ['errors', 'platform', 'config'],
  protocols: ['errors', 'platform', 'content', 'store'],
  replication: ['errors', 'platform', 'config', 'content', 'store', 'net', 'protocols'],
  names: ['errors', 'platform', 'config', 'content', 'store', 'protocols'],
  node: ['errors', 'platform', 'config', 'version', 'content', 'store', 'net', 'protocols', 'replication', 'names'],
  rpc: ['errors', 'platform', 'config', 'version', 'node'],
  gateway: ['errors', 'platform', 'config', 'content', 'rpc'],
  daemon: ['errors', 'platform', 'config', 'node', 'rpc', 'gateway'],
  // the typed client: of rpc/, only the method table (api.ts), checked below
  client: ['errors', 'platform', 'config', 'rpc'],
  cli: ['errors', 'platform', 'config', 'version', 'content', 'rpc', 'client', 'daemon']
}
const NO_LIBP2P = new Set(['rpc', 'gateway', 'cli', 'daemon', 'client'])

function layerOf (file: string): string {
  const rel = path.relative(SRC, file).split(path.sep)
  return rel.length === 1 ? rel[0].replace(/\.ts$/, '') : rel[0]
}

async function sourceFiles (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) out.push(...await sourceFiles(full))
    else if (entry.name.endsWith('.ts')) out.push(full)
  }
  return out
}

/** Runtime import specifiers of a module: static, re-exports, side effects, dynamic. */
export function runtimeImports (source: string): string[] {
  const specs: string[] = []
  const statics = /^\s*(import|export)\s+(type\s+)?([^'"]*?from\s+)?['"]([^'"]+)['"]/gm
  for (const m of source.matchAll(statics)) {
    if (m[2] == null) specs.push(m[4])
  }
  for (const m of source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) specs.push(m[1])
  return specs
}

describe('architecture', () => {
  it('finds the arrows it checks (self-test)', () => {
    assert.deepEqual(runtimeImports([
      "import { a } from '../errors.ts'",
      "import type { B } from '../node/node.ts'",
      "import '../platform/shim.ts'",
      "export { c } from './c.ts'",
      'const d = await import(\'./commands/d.ts\')',
      "import {\n  e,\n  f\n} from 'libp2p'"
    ].join('\n')), ['../errors.ts', '../platform/shim.ts', './c.ts', 'libp2p', './commands/d.ts'])
    assert.equal(layerOf(path.join(SRC, 'errors.ts')), 'errors')
    assert.equal(layerOf(path.join(SRC, 'cli', 'commands', 'id.ts')), 'cli')
  })

  it('every layer imports only the layers below it, and no libp2p above node/', async () => {
    const violations: string[] = []
    for (const file of await sourceFiles(SRC)) {
      const layer = layerOf(file)
      const allowed = ALLOWED[layer]
      if (allowed == null) {
        violations.push(`${path.relative(SRC, file)}: layer "${layer}" is not in the architecture (add it to docs/architecture.md and this test)`)
        continue
      }
      for (const spec of runtimeImports(await fs.readFile(file, 'utf8'))) {
        if (spec.startsWith('.')) {
          const target = path.resolve(path.dirname(file), spec)
          if (!target.startsWith(SRC + path.sep)) continue // package.json
          const to = layerOf(target)
          if (to !== layer && !allowed.includes(to)) violations.push(`${path.relative(SRC, file)} -> ${to}`)
        } else if (NO_LIBP2P.has(layer) && /^(libp2p|@libp2p\/|@chainsafe\/)/.test(spec)) {
          violations.push(`${path.relative(SRC, file)} imports ${spec}`)
        }
      }
    }
    assert.deepEqual(violations, [])
  })

  it('the client (shoal/client) loads neither node/ nor libp2p, following every runtime import from its entry', async () => {
    const seen = new Set<string>()
    const reached: string[] = []
    const visit = async (file: string): Promise<void> => {
      if (seen.has(file)) return
      seen.add(file)
      for (const spec of runtimeImports(await fs.readFile(file, 'utf8'))) {
        if (spec.startsWith('.')) {
          const target = path.resolve(path.dirname(file), spec)
          if (target.startsWith(SRC + path.sep)) await visit(target)
        } else {
          reached.push(spec)
        }
      }
    }
    await visit(path.join(SRC, 'client', 'index.ts'))
    const files = [...seen].map(f => path.relative(SRC, f))
    assert.ok(files.includes(path.join('client', 'transport.ts')) && files.includes('config.ts'), 'the self-check: it follows the imports')
    assert.deepEqual(files.filter(f => /^(node|net|protocols|replication|names|store|daemon|gateway)\//.test(f) || (f.startsWith('rpc/') && f !== 'rpc/api.ts')), [])
    assert.deepEqual(reached.filter(spec => /^(libp2p|@libp2p\/|@chainsafe\/)/.test(spec)), [])
  })
})
