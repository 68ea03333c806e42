/**
 * A directory without an index.html, as a page of links: each entry's name
 * (relative, so the page works under any prefix), size and CID.
 */
import type { LsEntry } from '../content/exporter.ts'

export function directoryListing (fullPath: string, entries: LsEntry[], rootCid: string): string {
  const rows = entries.map(e => {
    const href = encodeURIComponent(e.name) + (e.type === 'directory' ? '/' : '')
    const size = e.type === 'directory' ? '' : String(e.size)
    return `<tr><td><a href="${escapeHtml(href)}">${escapeHtml(e.name)}${e.type === 'directory' ? '/' : ''}</a></td>` +
      `<td class="size">${size}</td><td><code>${escapeHtml(e.cid.toString())}</code></td></tr>`
  })
  const up = fullPath.split('/').length > 3 ? '<tr><td><a href="..">..</a></td><td></td><td></td></tr>' : ''
  return [
    '<!doctype html>',
    '<html><head><meta charset="utf-8">',
    `<title>${escapeHtml(fullPath)}</title>`,
    '<style>body{font-family:sans-serif;margin:2em}td{padding:0 1em}.size{text-align:right}</style>',
    '</head><body>',
    `<h1>${escapeHtml(fullPath)}</h1>`,
    `<p>root <code>${escapeHtml(rootCid)}</code>, ${entries.length} ${entries.length === 1 ? 'entry' : 'entries'}</p>`,
    '<table><thead><tr><th>Name</th><th>Size</th><th>CID</th></tr></thead><tbody>',
    up,
    ...rows,
    '</tbody></table>',
    '</body></html>',
    ''
  ].join('\n')
}

export function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`)
}
