// Every vector in tests/vectors/ through the WebAssembly verifier
// (wasm/pkg/node), with the outcome tests/vectors.rs expects of the Rust
// one: the claims of a valid token, or the refusal kind and, for
// `malformed`, the byte position. The ring is written from docs/FORMAT.md's
// "Ring document" section, so the test also holds the document to its spec.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Verifier } = require('../pkg/node');

const vectorsDir = path.join(__dirname, '..', '..', 'tests', 'vectors');

/** The vector's keys as a ring document. */
function ringJson(keys) {
  return JSON.stringify({
    format: 'encapsulated-token-ring-json/1',
    active: keys.find((k) => k.active).id,
    keys: keys.map((k) => ({
      id: k.id,
      created: '1970-01-01T00:00:00Z',
      secret: Buffer.from(k.secret_hex, 'hex').toString('base64url'),
    })),
  });
}

/** The outcome in the vectors' own shape. */
function outcome(vector) {
  const verifier = new Verifier(ringJson(vector.keys), {
    audience: vector.audience,
    leewaySeconds: vector.leeway_seconds,
    maxLength: vector.max_length,
  });
  // As in tests/vectors.rs: the verifier's buffer first holds a longer
  // token (765 bytes of 0xff), whose bytes must never show.
  assert.throws(() => verifier.verify(`et2.${'_'.repeat(1020)}`, vector.now));
  try {
    const c = verifier.verify(vector.token, vector.now);
    return {
      valid: {
        key_id: c.keyId,
        claims: {
          subject: c.subject,
          issued_at: c.issuedAt,
          expires_at: c.expiresAt,
          session_started_at: c.sessionStartedAt,
          token_id: c.tokenId,
          audience: c.audience,
          attributes: c.attributes,
        },
      },
    };
  } catch (e) {
    assert.ok(e instanceof Error, `a refusal is an Error: ${e}`);
    assert.ok(e.message.length > 0, 'the Rust error text is the message');
    return { error: { kind: e.reason, position: e.position } };
  }
}

const files = fs.readdirSync(vectorsDir).filter((f) => f.endsWith('.json')).sort();

test('the vectors are there, every kind among them', () => {
  assert.ok(files.length >= 29, `only ${files.length} vectors`);
  const kinds = new Set(files.map((f) => {
    const { expect } = JSON.parse(fs.readFileSync(path.join(vectorsDir, f), 'utf8'));
    return expect.valid ? 'valid' : expect.error.kind;
  }));
  for (const kind of ['valid', 'too_long', 'malformed', 'unsupported_version', 'unknown_key_id',
    'bad_tag', 'expired', 'not_yet_valid', 'wrong_audience']) {
    assert.ok(kinds.has(kind), `no vector for ${kind}`);
  }
});

for (const file of files) {
  test(`vector ${file}`, () => {
    const vector = JSON.parse(fs.readFileSync(path.join(vectorsDir, file), 'utf8'));
    // JSON.parse gives attributes in insertion order; compare as data.
    assert.deepStrictEqual(outcome(vector), vector.expect);
  });
}
