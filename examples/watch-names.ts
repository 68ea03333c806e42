/**
 * An app's view of shoal: watch the names under a prefix and print each
 * change as it happens, on this node or any other (writes, deletes, new
 * siblings). It finds the daemon and its token in the repo, as the CLI does.
 *
 *   node examples/watch-names.ts [--repo DIR] [PREFIX]
 *
 * Each change is one line: TIME PATH CID (several CIDs with "conflict:",
 * or "deleted"). Ctrl-C stops it.
 */
import { parseArgs } from 'node:util'
import { ShoalClient } from 'shoal/client'

function describe (change: { path: string, exists: boolean, conflict: boolean, siblings: Array<{ cid?: string, deleted?: true }> }): string {
  if (!change.exists) return 'deleted'
  const live = change.siblings.filter(s => s.deleted !== true).map(s => s.cid ?? '')
  return change.conflict ? `conflict: ${live.join(' ')}` : live[0]
}

async function main (): Promise<number> {
  const { values, positionals } = parseArgs({ options: { repo: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true })
  if (values.help === true) {
    console.log('Usage: node examples/watch-names.ts [--repo DIR] [PREFIX]\n\nPrints each change of the names under PREFIX (default /): TIME PATH CID, "conflict: CID CID...", or "deleted".')
    return 0
  }
  const prefix = positionals[0] ?? '/'
  const client = await ShoalClient.fromRepo(values.repo)
  await client.subscribe('name.subscribe', { prefix }, change => {
    console.log(`${new Date().toISOString()} ${change.path} ${describe(change)}`)
  })
  console.error(`watching ${prefix} on ${client.endpoint.address} (Ctrl-C to stop)`)
  process.once('SIGINT', () => { void client.close() })
  process.once('SIGTERM', () => { void client.close() })
  const closed = await client.socketClosed()
  if (closed?.code === 1000) return 0
  console.error(`the daemon closed the connection (${closed?.code ?? '?'} ${closed?.reason ?? ''})`)
  return 1
}

main().then(code => { process.exitCode = code }, (err: Error) => {
  console.error(err.message)
  process.exitCode = 1
})
