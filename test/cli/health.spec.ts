import assert from 'node:assert/strict'
import { runCli } from '../helpers/cli.ts'
import { startTestDaemon } from '../helpers/daemon.ts'
import type { TestDaemon } from '../helpers/daemon.ts'
import { startNetwork, waitForMembership } from '../helpers/nodes.ts'
import type { TestNetwork } from '../helpers/nodes.ts'

describe('health: ok only when the node can keep its promises', function () {
  this.timeout(60_000)

  describe('a lone daemon', () => {
    let alone: TestDaemon | undefined
    afterEach(async () => { await alone?.stop() })

    it('with the default k = 3 is degraded, says why, and `shoal health` exits 1', async () => {
      alone = await startTestDaemon({ config: { replicas: 3, quorum: 2 } })
      const r = await runCli(['health', '--repo', alone.repo])
      assert.equal(r.code, 1)
      assert.match(r.stdout, /^status +degraded\nproblem +only 1 of the 3 replicas of each block and name can be placed \(0 storage peers connected\): writes, which need 2 confirmed copies, fail\n/)
      const json = await runCli(['health', '--json', '--repo', alone.repo])
      assert.equal(json.code, 1)
      const health = JSON.parse(json.stdout)
      assert.equal(health.status, 'degraded')
      assert.deepEqual([health.storagePeers, health.replicas, health.quorum], [0, 3, 2])
      assert.equal(health.problems.length, 1)
    })

    it('configured to keep one copy is ok, and `shoal health` exits 0', async () => {
      alone = await startTestDaemon({ config: { replicas: 1 } })
      const r = await runCli(['health', '--json', '--repo', alone.repo])
      assert.equal(r.code, 0, r.stdout)
      assert.deepEqual(JSON.parse(r.stdout).problems, [])
    })
  })

  describe('a network', () => {
    let net: TestNetwork | undefined
    after(async () => { await net?.stop() })

    it('of 2 nodes with k = 3 is degraded (fewer copies than configured), of 3 is ok', async () => {
      net = await startNetwork(2)
      await waitForMembership(net.nodes)
      const two = net.nodes[0].health()
      assert.equal(two.status, 'degraded')
      assert.match(two.problems[0], /only 2 of the 3 replicas .* new data has fewer copies than configured/)
      await net.add()
      await waitForMembership(net.nodes)
      assert.deepEqual(net.nodes.map(n => n.health().status), ['ok', 'ok', 'ok'])
    })
  })
})
