import assert from 'node:assert/strict'
import { InvalidArgumentError } from '../../src/errors.ts'
import { MAX_NAME_BYTES, MAX_SEGMENT_BYTES, isNormalisedName, normaliseName } from '../../src/names/path.ts'

function rejects (input: string, pattern: RegExp): void {
  assert.throws(() => normaliseName(input), (err: Error) => {
    assert.ok(err instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${err.name}`)
    assert.match(err.message, pattern)
    return true
  })
}

describe('names/path', () => {
  it('keeps a name already in normal form', () => {
    assert.equal(normaliseName('/photos/cat.jpg'), '/photos/cat.jpg')
    assert.equal(normaliseName('/a'), '/a')
    assert.equal(normaliseName('/with space/and-dash_.x'), '/with space/and-dash_.x')
    assert.equal(normaliseName('/.hidden/..dots/...'), '/.hidden/..dots/...')
  })

  it('collapses duplicate slashes and strips a trailing slash', () => {
    assert.equal(normaliseName('//photos///cat.jpg'), '/photos/cat.jpg')
    assert.equal(normaliseName('/photos/'), '/photos')
    assert.equal(normaliseName('/photos//'), '/photos')
  })

  it('NFC-normalises, so both spellings of é are one name', () => {
    const decomposed = '/caf\u0065\u0301'
    const composed = '/caf\u00e9'
    assert.notEqual(decomposed, composed)
    assert.equal(normaliseName(decomposed), composed)
    assert.equal(normaliseName(composed), composed)
    assert.equal(isNormalisedName(decomposed), false)
    assert.equal(isNormalisedName(composed), true)
  })

  it('must start with "/" and have a segment', () => {
    rejects('photos/cat.jpg', /Invalid name "photos\/cat.jpg": a name must start with "\/"/)
    rejects('', /must start with/)
    rejects('/', /at least one segment/)
    rejects('///', /at least one segment/)
  })

  it('refuses . and .. segments', () => {
    rejects('/a/../b', /"\.\." segments are not allowed/)
    rejects('/a/./b', /"\." segments are not allowed/)
    rejects('/..', /"\.\." segments/)
    rejects('/a/.', /"\." segments/)
  })

  it('refuses NUL, control characters and lone surrogates', () => {
    rejects('/a\u0000b', /control character U\+0000/)
    rejects('/a\nb', /control character U\+000A/)
    rejects('/a\u007fb', /control character U\+007F/)
    rejects('/a\u0085b', /control character U\+0085/)
    rejects('/a\ud800b', /not well-formed Unicode/)
  })

  it('limits a segment to 255 bytes and the name to 1024 bytes of UTF-8', () => {
    assert.equal(normaliseName('/' + 'a'.repeat(MAX_SEGMENT_BYTES)).length, 256)
    rejects('/' + 'a'.repeat(MAX_SEGMENT_BYTES + 1), /segment is 256 bytes long, the limit is 255/)
    // 128 two-byte characters: 128 characters but 256 bytes
    rejects('/' + '\u00e9'.repeat(128), /256 bytes long, the limit is 255/)
    const seg = 'b'.repeat(200)
    const fits = '/' + Array.from({ length: 5 }, () => seg).join('/') // 1005 bytes
    assert.equal(normaliseName(fits), fits)
    const tooLong = fits + '/' + 'c'.repeat(MAX_NAME_BYTES - fits.length)
    rejects(tooLong, /it is 1025 bytes long, the limit is 1024/)
    // the limit applies after collapsing slashes
    assert.equal(normaliseName(fits.replaceAll('/', '//')), fits)
  })

  it('rejects what is not a string', () => {
    assert.throws(() => normaliseName(42 as unknown as string), /expected a string, got number/)
  })
})
