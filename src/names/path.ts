/**
 * Name keys: absolute slash-separated paths such as `/photos/cat.jpg`.
 *
 * `normaliseName` gives every spelling of a name one form, so that two nodes
 * never hold the same name under two keys: Unicode NFC, duplicate slashes
 * collapsed, a trailing slash stripped. It then validates the result: it must
 * start with `/`, have at least one segment, no `.` or `..` segment, no NUL or
 * other control character, no ill-formed Unicode (lone surrogates), at most
 * MAX_NAME_BYTES in UTF-8 and at most MAX_SEGMENT_BYTES per segment.
 */
import { InvalidArgumentError } from '../errors.ts'

export const MAX_NAME_BYTES = 1024
export const MAX_SEGMENT_BYTES = 255

const encoder = new TextEncoder()

// C0 controls (NUL included), DEL and C1 controls
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

/** `input` in its one normal form; throws InvalidArgumentError saying what is wrong. */
export function normaliseName (input: string): string {
  if (typeof input !== 'string') throw new InvalidArgumentError(`Invalid name: expected a string, got ${input === null ? 'null' : typeof input}`)
  const fail = (why: string): never => { throw new InvalidArgumentError(`Invalid name ${show(input)}: ${why}`) }
  if (!input.isWellFormed()) fail('it is not well-formed Unicode (lone surrogate)')
  const control = CONTROL.exec(input)
  if (control != null) fail(`it contains the control character U+${control[0].charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}`)
  if (!input.startsWith('/')) fail('a name must start with "/", as in "/photos/cat.jpg"')
  const segments = input.normalize('NFC').split('/').filter(s => s !== '')
  if (segments.length === 0) fail('a name needs at least one segment after "/"')
  for (const segment of segments) {
    if (segment === '.' || segment === '..') fail(`"${segment}" segments are not allowed`)
    const bytes = encoder.encode(segment).length
    if (bytes > MAX_SEGMENT_BYTES) fail(`a segment is ${bytes} bytes long, the limit is ${MAX_SEGMENT_BYTES}`)
  }
  const name = '/' + segments.join('/')
  const bytes = encoder.encode(name).length
  if (bytes > MAX_NAME_BYTES) fail(`it is ${bytes} bytes long, the limit is ${MAX_NAME_BYTES}`)
  return name
}

/** True when `input` is already in normal form (what a decoded record's key must be). */
export function isNormalisedName (input: string): boolean {
  try {
    return normaliseName(input) === input
  } catch {
    return false
  }
}

/** A name for an error message: quoted and escaped, cut at 100 characters. */
function show (input: string): string {
  const cut = input.length > 100 ? input.slice(0, 100) + '...' : input
  return JSON.stringify(cut)
}

/** The placement key of a name: its UTF-8 bytes (placement hashes them with sha2-256). */
export function nameKey (key: string): Uint8Array {
  return encoder.encode(key)
}

/** Whether the normal name `key` is `prefix` or under it (`prefix` normal, or "/" for every name). */
export function isUnder (key: string, prefix: string): boolean {
  return prefix === '/' || key === prefix || key.startsWith(prefix + '/')
}
