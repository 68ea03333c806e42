import assert from 'node:assert/strict'
import { differences } from '../../src/replication/anti-entropy.ts'
import type { RangeDifference } from '../../src/replication/anti-entropy.ts'
import { arrayStore, directRemote, hex, kadOf, randomMultihash } from '../helpers/ranges.ts'

const WHOLE = { lo: new Uint8Array(32), depth: 0 }
const HALVES = [{ lo: new Uint8Array(32), depth: 1 }, { lo: Uint8Array.from([0x80, ...new Uint8Array(31)]), depth: 1 }]

async function all (gen: AsyncGenerator<RangeDifference>): Promise<{ missingThere: Set<string>, missingHere: Set<string> }> {
  const out = { missingThere: new Set<string>(), missingHere: new Set<string>() }
  for await (const d of gen) {
    for (const mh of d.missingThere) out.missingThere.add(hex(mh))
    for (const mh of d.missingHere) out.missingHere.add(hex(mh))
  }
  return out
}

describe('replication/anti-entropy: finding what two holders of the same ranges differ in', () => {
  const common = Array.from({ length: 20_000 }, randomMultihash)

  it('in sync: one request, whatever is held', async () => {
    const remote = directRemote(arrayStore(common))
    const diff = await all(differences(HALVES, arrayStore(common), remote, { kadOf }))
    assert.deepEqual([diff.missingThere.size, diff.missingHere.size], [0, 0])
    assert.equal(remote.requests, 1)
  })

  it('finds a few differences both ways, at a cost that follows them and not the 20 000 blocks held', async () => {
    const onlyHere = Array.from({ length: 3 }, randomMultihash)
    const onlyThere = Array.from({ length: 4 }, randomMultihash)
    const remote = directRemote(arrayStore([...common, ...onlyThere]))
    const diff = await all(differences([WHOLE], arrayStore([...common, ...onlyHere]), remote, { kadOf }))
    assert.deepEqual(diff.missingThere, new Set(onlyHere.map(hex)))
    assert.deepEqual(diff.missingHere, new Set(onlyThere.map(hex)))
    // a few levels of 16 summaries per difference, then a leaf of at most a few hundred keys each
    assert.ok(remote.summariesSent <= 7 * 16 * 3 + 1, `${remote.summariesSent} summaries`)
    assert.ok(remote.keysSent <= 7 * 256, `${remote.keysSent} keys`)
  })

  it('a side that holds nothing of a range gets its whole list, a page at a time', async () => {
    const remote = directRemote(arrayStore([]), 100)
    const diff = await all(differences([WHOLE], arrayStore(common.slice(0, 5000)), remote, { kadOf }))
    assert.equal(diff.missingThere.size, 5000)
    assert.equal(remote.keysSent, 0, 'an empty side lists nothing')
    const back = directRemote(arrayStore(common.slice(0, 5000)), 100)
    const pulled = await all(differences([WHOLE], arrayStore([]), back, { kadOf }))
    assert.equal(pulled.missingHere.size, 5000)
    assert.equal(back.requests, 1 + 50, 'one summary, then 50 pages of 100 keys')
  })
})
