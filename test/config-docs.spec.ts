import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import { z } from 'zod'
import { CONFIG_DOCS_FILE, configDocs } from '../scripts/config-docs.ts'
import { CONFIG_KEYS, configSchema, DEFAULT_CONFIG } from '../src/config.ts'

describe('docs/config.md', () => {
  it('is what scripts/config-docs.ts makes of the schema now (else: npm run docs:config)', async () => {
    const committed = await fs.readFile(CONFIG_DOCS_FILE, 'utf8')
    assert.ok(committed === configDocs(), 'docs/config.md is stale: run "npm run docs:config" and commit it')
  })

  it('describes every key: type, default and description, bounds where there are some', () => {
    const page = configDocs()
    const schema = z.toJSONSchema(configSchema, { io: 'input' }) as { properties: Record<string, { description?: string, minimum?: number, maximum?: number }> }
    assert.deepEqual(Object.keys(schema.properties), CONFIG_KEYS)
    for (const key of CONFIG_KEYS) {
      const section = page.split(`\n### ${key}\n`)[1]?.split('\n### ')[0]
      assert.ok(section != null, `a section for "${key}"`)
      const { description, minimum, maximum } = schema.properties[key]
      assert.ok(description != null && description.length > 10, `"${key}" has a description in the schema`)
      assert.ok(section.toLowerCase().includes(description.slice(1, 40).toLowerCase()), `the description of "${key}"`)
      assert.match(section, /\n- type: `[^`]+`/, `the type of "${key}"`)
      if (key !== 'quorum') assert.ok(section.includes(`- default: \`${JSON.stringify(key === 'gateway' ? null : DEFAULT_CONFIG[key])}\``), `the default of "${key}"`)
      if (minimum != null) assert.ok(section.includes(`from ${minimum} to ${maximum}`), `the bounds of "${key}"`)
    }
    assert.match(page, /### quorum\n[^#]*- default: a majority of `replicas`/)
  })

  it('ends with an example config.json that the schema accepts', () => {
    const example = /## Example\n[\s\S]*?```json\n([\s\S]*?)\n```/.exec(configDocs())?.[1]
    assert.ok(example != null)
    const parsed = configSchema.safeParse(JSON.parse(example))
    assert.ok(parsed.success, parsed.error?.message)
  })
})
