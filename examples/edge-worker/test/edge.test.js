// The edge worker in a real workerd (npm package `workerd`), in front of an
// origin on 127.0.0.1 that records every request it gets. Tokens and rings
// come from the real `etoken`. A valid cookie or bearer reaches the origin
// with the right X-Auth-User; forged, expired, foreign-key, missing and
// ambiguous credentials are answered at the edge and the origin never sees
// them; a client's own X-Auth-User never passes.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawn } = require('node:child_process');

const here = path.join(__dirname, '..');
const root = path.join(here, '..', '..');
const etokenBin = process.env.ETOKEN ?? path.join(root, 'target', 'debug', 'etoken');
const etoken = (...args) => execFileSync(etokenBin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const workerdBin = path.join(here, 'node_modules', '.bin', 'workerd');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-worker-'));
const keys = path.join(tmp, 'keys');
const foreign = path.join(tmp, 'foreign');
etoken('key', 'init', '--dir', keys);
etoken('key', 'init', '--dir', foreign);
const mint = (dir, user, ...rest) => etoken('mint', '--keys', dir, '--user', user, '--aud', 'publish', ...rest).trim();

/** Every request the origin got: method, path, X-Auth-User, header names. */
const seen = [];
let origin;
let workerd;
let base;
let workerdLog = '';

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

test.before(async () => {
  origin = http.createServer((req, res) => {
    seen.push({ method: req.method, path: req.url, user: req.headers['x-auth-user'], names: Object.keys(req.headers) });
    res.setHeader('content-type', 'text/plain');
    res.end(`origin saw ${req.headers['x-auth-user'] ?? 'nobody'}`);
  });
  await new Promise((resolve) => origin.listen(0, '127.0.0.1', resolve));
  const port = await freePort();
  workerd = spawn(workerdBin, ['serve', path.join(here, 'config.capnp'),
    '--socket-addr', `http=127.0.0.1:${port}`,
    '--external-addr', `origin=127.0.0.1:${origin.address().port}`], {
    env: { ...process.env, ETOKEN_RING: etoken('key', 'export', '--dir', keys),
      ETOKEN_AUDIENCE: 'publish', ETOKEN_LEEWAY_SECONDS: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  workerd.stdout.on('data', (d) => { workerdLog += d; });
  workerd.stderr.on('data', (d) => { workerdLog += d; });
  base = `http://127.0.0.1:${port}`;
  // Ready when the login page (never checked) passes through: 20 s at most.
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/login`)).status === 200) break;
    } catch {}
    if (i === 200 || workerd.exitCode !== null) throw new Error(`workerd did not start:\n${workerdLog}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  seen.length = 0;
});

test.after(async () => {
  workerd?.kill();
  await new Promise((resolve) => origin?.close(resolve));
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function get(pathname, headers = {}) {
  const before = seen.length;
  const res = await fetch(`${base}${pathname}`, { headers, redirect: 'manual' });
  return { res, body: await res.text(), reached: seen.slice(before) };
}

test('a valid cookie reaches the origin with its user', async () => {
  const { res, body, reached } = await get('/content/page.html', { cookie: `theme=dark; login-token=${mint(keys, 'alice')}` });
  assert.equal(res.status, 200);
  assert.equal(body, 'origin saw alice');
  assert.deepEqual(reached.map((r) => [r.path, r.user]), [['/content/page.html', 'alice']]);
});

test('a valid bearer token reaches the origin with its user', async () => {
  const { res, reached } = await get('/api/assets', { authorization: `Bearer ${mint(keys, 'svc-backend')}` });
  assert.equal(res.status, 200);
  assert.deepEqual(reached.map((r) => r.user), ['svc-backend']);
});

test("a client's own X-Auth-User never reaches the origin", async () => {
  const token = mint(keys, 'alice');
  const { reached } = await get('/x', { cookie: `login-token=${token}`, 'x-auth-user': 'admin', x_auth_user: 'admin', 'X-AUTH-USER': 'admin' });
  assert.equal(reached.length, 1);
  assert.equal(reached[0].user, 'alice');
  assert.ok(!reached[0].names.includes('x_auth_user'), reached[0].names.join());
  const alone = await get('/x', { 'x-auth-user': 'admin', accept: 'application/json' });
  assert.equal(alone.res.status, 401);
  assert.equal(alone.reached.length, 0);
});

for (const [name, token] of [
  ['forged (one tag character changed)', () => { const t = mint(keys, 'alice'); return t.slice(0, -3) + (t.at(-3) === 'A' ? 'B' : 'A') + t.slice(-2); }],
  ['signed with a foreign key', () => mint(foreign, 'alice')],
  ['for another audience', () => etoken('mint', '--keys', keys, '--user', 'alice', '--aud', 'author').trim()],
  ['not a token', () => 'hello'],
]) {
  test(`a cookie ${name} is refused at the edge`, async () => {
    const api = await get('/api/x', { cookie: `login-token=${token()}`, accept: 'application/json' });
    assert.equal(api.res.status, 401);
    assert.equal(api.res.headers.get('www-authenticate'), 'Bearer');
    assert.deepEqual(JSON.parse(api.body), { error: 'unauthorized' });
    assert.equal(api.reached.length, 0, 'the origin never sees it');
    const browser = await get('/content/page.html?x=1', { cookie: `login-token=${token()}`, accept: 'text/html' });
    assert.equal(browser.res.status, 302);
    assert.equal(browser.res.headers.get('location'), '/login?next=%2Fcontent%2Fpage.html%3Fx%3D1');
    assert.equal(browser.reached.length, 0, 'the origin never sees it');
  });
}

test('an expired cookie is refused at the edge', async () => {
  const token = mint(keys, 'alice', '--ttl', '1s');
  await new Promise((r) => setTimeout(r, 2100));
  const { res, reached } = await get('/api/x', { cookie: `login-token=${token}` });
  assert.equal(res.status, 401);
  assert.equal(reached.length, 0);
  assert.match(workerdLog, /refused GET \/api\/x: expired/);
});

test('cookies naming two users are refused; a stale one beside a valid one is not', async () => {
  const two = await get('/api/x', { cookie: `login-token=${mint(keys, 'alice')}; login-token=${mint(keys, 'mallory')}` });
  assert.equal(two.res.status, 401);
  assert.equal(two.reached.length, 0);
  const stale = await get('/api/x', { cookie: `login-token=${mint(foreign, 'x')}; login-token=${mint(keys, 'alice')}` });
  assert.equal(stale.res.status, 200);
  assert.deepEqual(stale.reached.map((r) => r.user), ['alice']);
});

test('no credentials: a browser goes to the login page, an API client gets 401', async () => {
  const browser = await get('/content/page.html', { accept: 'text/html' });
  assert.equal(browser.res.status, 302);
  const api = await get('/api/x');
  assert.equal(api.res.status, 401);
  assert.equal(browser.reached.length + api.reached.length, 0);
});
