// An edge worker in front of a publish farm: it verifies the `login-token`
// cookie (or an `Authorization: Bearer` token) with the WebAssembly
// verifier, built from the same core as the farm, and only an authenticated
// request travels on to the origin, with `X-Auth-User` set by the worker.
// Anything else is answered here: 401 for an API client, a redirect to the
// login page for a browser.
//
// Bindings (config.capnp): ORIGIN, the origin service; ETOKEN_RING, the ring
// document of `etoken key export` (a secret); AUDIENCE, LEEWAY_SECONDS,
// LOGIN_PATH, optional.
// jshttp's parser; a CommonJS module, so its exports are the default.
import cookie from 'cookie';
import { initSync, Verifier } from './encapsulated_token.js';
import wasmModule from './encapsulated_token_bg.wasm';

initSync({ module: wasmModule });

const COOKIE = 'login-token';
/// The header the origin trusts; never taken from a client, in any spelling.
const AUTH_USER = 'x-auth-user';

let verifier = null;

function verifierFor(env) {
  if (verifier === null) {
    const options = {};
    if (env.AUDIENCE) options.audience = env.AUDIENCE;
    if (env.LEEWAY_SECONDS) options.leewaySeconds = Number(env.LEEWAY_SECONDS);
    verifier = new Verifier(env.ETOKEN_RING, options);
  }
  return verifier;
}

/// The login cookies of a request: every `login-token` pair, in order
/// (a browser may send several, from sibling domains or paths).
function loginCookies(header) {
  if (!header) return [];
  return header
    .split(';')
    .map((pair) => cookie.parse(pair))
    .filter((parsed) => Object.hasOwn(parsed, COOKIE))
    .map((parsed) => parsed[COOKIE]);
}

/// The one subject the request's credentials agree on, or a refusal
/// reason. A bearer token stands alone; among several cookies, those that
/// verify must name one subject (as the Rust handler decides).
function authenticate(request, env, now) {
  const v = verifierFor(env);
  const authorization = request.headers.get('authorization');
  if (authorization !== null) {
    const match = /^Bearer ([^\s]+)$/i.exec(authorization);
    if (!match) return { reason: 'malformed_authorization' };
    return verifyOne(v, match[1], now);
  }
  const tokens = loginCookies(request.headers.get('cookie'));
  if (tokens.length === 0) return { reason: 'no_credentials' };
  let subject = null;
  let firstRefusal = null;
  for (const token of tokens) {
    const outcome = verifyOne(v, token, now);
    if (outcome.reason) {
      firstRefusal ??= outcome;
    } else if (subject === null) {
      subject = outcome.subject;
    } else if (subject !== outcome.subject) {
      return { reason: 'ambiguous_cookies' };
    }
  }
  return subject === null ? firstRefusal : { subject };
}

function verifyOne(v, token, now) {
  try {
    return { subject: v.verify(token, now).subject };
  } catch (e) {
    return { reason: e.reason ?? 'error', detail: e.message };
  }
}

/// A browser navigation asks for HTML; an API client does not.
function wantsHtml(request) {
  return request.method === 'GET' && (request.headers.get('accept') ?? '').includes('text/html');
}

function refuse(request, env, outcome) {
  // The reason goes to the log, cut short; the client learns nothing of it.
  console.log(`refused ${request.method} ${new URL(request.url).pathname.slice(0, 200)}: ${outcome.reason}`);
  if (wantsHtml(request) && !request.headers.has('authorization')) {
    const url = new URL(request.url);
    const login = new URL(env.LOGIN_PATH || '/login', url);
    login.searchParams.set('next', url.pathname + url.search);
    return new Response(null, { status: 302, headers: { location: login.pathname + login.search } });
  }
  return new Response(JSON.stringify({ error: 'unauthorized' }), {
    status: 401,
    headers: { 'content-type': 'application/json', 'www-authenticate': 'Bearer', 'cache-control': 'no-store' },
  });
}

export default {
  async fetch(request, env) {
    const loginPath = env.LOGIN_PATH || '/login';
    const path = new URL(request.url).pathname;
    const headers = new Headers(request.headers);
    // Whatever the client sent as X-Auth-User (or X_Auth_User, ...) is gone
    // before anything else.
    for (const name of [...headers.keys()]) {
      if (name.replaceAll('_', '-') === AUTH_USER) headers.delete(name);
    }
    if (path !== loginPath) {
      const outcome = authenticate(request, env, Math.floor(Date.now() / 1000));
      if (!outcome.subject) return refuse(request, env, outcome);
      headers.set(AUTH_USER, outcome.subject);
    }
    return env.ORIGIN.fetch(new Request(request.url, {
      method: request.method,
      headers,
      body: request.body,
      redirect: 'manual',
    }));
  },
};
