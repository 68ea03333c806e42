/**
 * What a gateway request asks for (the response format from `?format=` or
 * `Accept`) and what a file is (its Content-Type, from its name or its first
 * bytes).
 */

export type ResponseFormat = 'raw' | 'car' | 'deserialized'

export const MEDIA_RAW = 'application/vnd.ipld.raw'
export const MEDIA_CAR = 'application/vnd.ipld.car'
/** the only CAR shoal writes: version 1, blocks depth-first, each block once */
export const CAR_CONTENT_TYPE = `${MEDIA_CAR}; version=1; order=dfs; dups=n`

export class NotAcceptable extends Error {}

interface MediaRange { type: string, params: Map<string, string>, q: number }

function parseAccept (header: string): MediaRange[] {
  const ranges: MediaRange[] = []
  for (const part of header.split(',')) {
    const [type, ...rest] = part.split(';').map(s => s.trim())
    if (type === '') continue
    const params = new Map<string, string>()
    for (const p of rest) {
      const eq = p.indexOf('=')
      if (eq > 0) params.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim().replace(/^"|"$/g, ''))
    }
    const q = params.has('q') ? Number(params.get('q')) : 1
    ranges.push({ type: type.toLowerCase(), params, q: Number.isFinite(q) ? q : 0 })
  }
  return ranges.filter(r => r.q > 0).sort((a, b) => b.q - a.q)
}

/**
 * The response format: `?format=` wins over `Accept` (the spec's SHOULD);
 * a verifiable type in Accept is taken when it is the client's first choice
 * among those it lists, anything else gets the deserialized file. A CAR the
 * client accepts only in a version other than 1 is not acceptable.
 */
export function responseFormat (format: string | null, accept: string | undefined, carVersion: string | null): ResponseFormat {
  if (carVersion != null && carVersion !== '1') throw new NotAcceptable(`CAR version ${carVersion} is not served: only version 1`)
  if (format != null) {
    if (format === 'raw') return 'raw'
    if (format === 'car') return 'car'
    throw new NotAcceptable(`format "${format}" is not served: raw, car, or none for the file itself`)
  }
  for (const range of parseAccept(accept ?? '')) {
    if (range.type === MEDIA_RAW) return 'raw'
    if (range.type === MEDIA_CAR) {
      const version = range.params.get('version')
      if (version != null && version !== '1') continue
      return 'car'
    }
    return 'deserialized'
  }
  if (parseAccept(accept ?? '').some(r => r.type === MEDIA_CAR)) throw new NotAcceptable('CAR version 1 is the only one served')
  return 'deserialized'
}

const BY_EXTENSION: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  htm: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  json: 'application/json',
  txt: 'text/plain; charset=utf-8',
  md: 'text/markdown; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  xml: 'application/xml',
  svg: 'image/svg+xml',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  avif: 'image/avif',
  ico: 'image/x-icon',
  pdf: 'application/pdf',
  wasm: 'application/wasm',
  zip: 'application/zip',
  gz: 'application/gzip',
  tar: 'application/x-tar',
  mp3: 'audio/mpeg',
  ogg: 'audio/ogg',
  wav: 'audio/wav',
  mp4: 'video/mp4',
  webm: 'video/webm',
  woff: 'font/woff',
  woff2: 'font/woff2',
  car: MEDIA_CAR
}

const MAGIC: Array<[number[], string]> = [
  [[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'image/png'],
  [[0xff, 0xd8, 0xff], 'image/jpeg'],
  [[0x47, 0x49, 0x46, 0x38], 'image/gif'],
  [[0x25, 0x50, 0x44, 0x46, 0x2d], 'application/pdf'],
  [[0x50, 0x4b, 0x03, 0x04], 'application/zip'],
  [[0x1f, 0x8b], 'application/gzip'],
  [[0x00, 0x61, 0x73, 0x6d], 'application/wasm']
]

/**
 * A file's Content-Type: from its name's extension when it has a known one,
 * else from its first bytes (a few magic numbers; HTML; UTF-8 text), else
 * application/octet-stream.
 */
export function contentTypeOf (name: string | undefined, head: Uint8Array): string {
  const ext = name?.includes('.') === true ? name.slice(name.lastIndexOf('.') + 1).toLowerCase() : ''
  if (Object.hasOwn(BY_EXTENSION, ext)) return BY_EXTENSION[ext]
  for (const [magic, type] of MAGIC) {
    if (head.length >= magic.length && magic.every((b, i) => head[i] === b)) return type
  }
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(head.length > 0 && head.length === 512 ? trimPartialChar(head) : head)
  } catch {
    return 'application/octet-stream'
  }
  if (text.includes('\0')) return 'application/octet-stream'
  if (/^\s*<(!doctype html|html|head|body)[\s>]/i.test(text)) return 'text/html; charset=utf-8'
  return 'text/plain; charset=utf-8'
}

/** Drop a UTF-8 sequence cut off at the end of a sniffed head. */
function trimPartialChar (head: Uint8Array): Uint8Array {
  let end = head.length
  for (let i = 1; i <= 3 && end - i >= 0; i++) {
    const b = head[end - i]
    if ((b & 0xc0) !== 0x80) {
      const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1
      if (need > i) end -= i
      break
    }
  }
  return head.subarray(0, end)
}
