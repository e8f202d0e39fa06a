// Verifies per second of the WebAssembly verifier in Node, on the typical
// token of tests/vectors (23-byte subject, audience, two attributes), to set
// beside the native criterion bench `verify/encapsulated`
// (`cargo bench -p encapsulated-token --bench verify -- verify/encapsulated`).
// A benchmark, not a test: it asserts only that every verify succeeds.
// Run: node wasm/bench/verify.js [seconds per round, default 1]
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { Verifier } = require('../pkg/node');

const vector = JSON.parse(fs.readFileSync(
  path.join(__dirname, '..', '..', 'tests', 'vectors', 'valid_typical.json'), 'utf8'));
const ring = JSON.stringify({
  format: 'encapsulated-token-ring-json/1',
  active: vector.keys.find((k) => k.active).id,
  keys: vector.keys.map((k) => ({
    id: k.id, created: '1970-01-01T00:00:00Z', secret: Buffer.from(k.secret_hex, 'hex').toString('base64url'),
  })),
});
const verifier = new Verifier(ring, { audience: vector.audience });
const { token, now } = vector;
const seconds = Number(process.argv[2] ?? 1);

function round(fn) {
  const deadline = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  let count = 0;
  const start = process.hrtime.bigint();
  let end = start;
  while (end < deadline) {
    for (let i = 0; i < 1000; i++) fn();
    count += 1000;
    end = process.hrtime.bigint();
  }
  return count / (Number(end - start) / 1e9);
}

function measure(name, fn) {
  round(fn); // warm-up: the JIT and the module's first calls
  const rates = [0, 1, 2, 3, 4].map(() => round(fn)).sort((a, b) => a - b);
  const median = rates[2];
  console.log(`${name}: ${Math.round(median)} verifies/s (${(1e9 / median).toFixed(0)} ns each; `
    + `rounds ${rates.map((r) => Math.round(r)).join(', ')})`);
}

measure('wasm verify (claims object built)', () => {
  if (verifier.verify(token, now).subject === undefined) throw new Error('no subject');
});
const forged = token.slice(0, -2) + (token.at(-2) === 'A' ? 'B' : 'A') + token.at(-1);
measure('wasm verify refusing a bad tag (Error thrown)', () => {
  try { verifier.verify(forged, now); throw new Error('accepted a forged token'); } catch (e) { if (e.reason !== 'bad_tag') throw e; }
});
