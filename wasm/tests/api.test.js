// The JavaScript API of wasm/pkg/node against the real `etoken`: a ring that
// `etoken key export` wrote and tokens that `etoken mint` minted verify in
// Node as they do in Rust, and every misuse of the API is refused with a
// reason, never silently defaulted.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { Verifier } = require('../pkg/node');

const etokenBin = process.env.ETOKEN ?? path.join(__dirname, '..', '..', 'target', 'debug', 'etoken');
const etoken = (...args) => execFileSync(etokenBin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const now = () => Math.floor(Date.now() / 1000);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'etoken-wasm-'));
const keys = path.join(tmp, 'keys');
etoken('key', 'init', '--dir', keys);
etoken('key', 'add', '--dir', keys);
const ring = etoken('key', 'export', '--dir', keys);
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function refusal(fn) {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof Error);
    return e;
  }
  assert.fail('expected a refusal');
}

test('a token etoken minted verifies with the ring etoken exported', () => {
  const token = etoken('mint', '--keys', keys, '--user', 'alice@example.com', '--aud', 'publish',
    '--attr', 'role=editor', '--ttl', '1h').trim();
  const inspected = JSON.parse(etoken('verify', '--keys', keys, '--aud', 'publish', token));
  const claims = new Verifier(ring, { audience: 'publish' }).verify(token, now());
  assert.equal(claims.subject, 'alice@example.com');
  assert.equal(claims.audience, 'publish');
  assert.deepEqual(claims.attributes, { role: 'editor' });
  assert.equal(claims.keyId, inspected.key_id);
  assert.equal(claims.tokenId, inspected.token_id);
  assert.equal(claims.issuedAt, inspected.issued_at);
  assert.equal(claims.expiresAt, inspected.expires_at);
  assert.equal(claims.expiresAt - claims.issuedAt, 3600);
  assert.equal(claims.sessionStartedAt, claims.issuedAt);
});

test('the ring holds both keys, the active one first', () => {
  const listed = JSON.parse(etoken('key', 'list', '--dir', keys, '--json'));
  const active = listed.find((k) => k.state === 'active').id;
  const ids = new Verifier(ring).keyIds;
  assert.equal(ids[0], active);
  assert.deepEqual([...ids].sort(), listed.map((k) => k.id).sort());
});

test('refusals carry the kind as reason and the Rust text as message', () => {
  const token = etoken('mint', '--keys', keys, '--user', 'bob', '--ttl', '60s').trim();
  const verifier = new Verifier(ring);
  const expired = refusal(() => verifier.verify(token, now() + 3600));
  assert.equal(expired.reason, 'expired');
  assert.match(expired.message, /token expired at .* log in again/);
  assert.equal(expired.position, null);
  const audience = refusal(() => new Verifier(ring, { audience: 'author' }).verify(token, now()));
  assert.equal(audience.reason, 'wrong_audience');
  const forged = token.slice(0, -2) + (token.at(-2) === 'A' ? 'B' : 'A') + token.at(-1);
  assert.equal(refusal(() => verifier.verify(forged, now())).reason, 'bad_tag');
  const malformed = refusal(() => verifier.verify(`${token} `, now()));
  assert.equal(malformed.reason, 'malformed');
  assert.equal(malformed.position, token.length);
  // The verifier stays usable after a refusal.
  assert.equal(verifier.verify(token, now()).subject, 'bob');
});

test('a time that is not whole Unix seconds is refused', () => {
  const verifier = new Verifier(ring);
  for (const bad of [Date.now() / 1000.5, NaN, Infinity, 1e300]) {
    assert.equal(refusal(() => verifier.verify('et2.x', bad)).reason, 'invalid_time', String(bad));
  }
});

test('options: misspelt, mistyped or negative values are refused', () => {
  for (const options of [{ audiance: 'publish' }, { audience: 7 }, { leewaySeconds: -1 },
    { leewaySeconds: 1.5 }, { maxLength: '1024' }]) {
    const e = refusal(() => new Verifier(ring, options));
    assert.equal(e.reason, 'invalid_options', JSON.stringify(options));
  }
  // maxLength bounds the token before anything else.
  const token = etoken('mint', '--keys', keys, '--user', 'carol').trim();
  const short = new Verifier(ring, { maxLength: token.length - 1 });
  assert.equal(refusal(() => short.verify(token, now())).reason, 'too_long');
  // leewaySeconds widens the window at both ends.
  const lenient = new Verifier(ring, { leewaySeconds: 7200 });
  assert.equal(lenient.verify(token, now() + 86400 + 3600).subject, 'carol');
});

test('a bad ring document is refused, and no secret shows in the message', () => {
  const doc = JSON.parse(ring);
  const secret = doc.keys[0].secret;
  const cases = [
    'not json',
    JSON.stringify({ ...doc, extra: 1 }),
    JSON.stringify({ ...doc, format: 'encapsulated-token-ring-json/2' }),
    JSON.stringify({ ...doc, keys: [] }),
    JSON.stringify({ ...doc, active: 'ffffffff' }),
    JSON.stringify({ ...doc, keys: [doc.keys[0], doc.keys[0]] }),
    JSON.stringify({ ...doc, keys: [{ ...doc.keys[0], secret: secret.slice(1) }] }),
    JSON.stringify({ ...doc, keys: [{ ...doc.keys[0], secret: 7 }] }),
    ring.replace(secret, `\\u0041${secret.slice(1)}`),
    ' '.repeat(70000),
  ];
  for (const text of cases) {
    const e = refusal(() => new Verifier(text));
    assert.equal(e.reason, 'invalid_ring', text.slice(0, 80));
    assert.match(e.message, /^not a valid ring document/);
    assert.ok(!e.message.includes(secret.slice(1, 20)), e.message);
  }
});
