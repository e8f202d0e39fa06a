// A real OpenID provider for etoken's single sign-on tests (tests/sso.rs):
// npm's oidc-provider, a certified implementation, with its development
// login and consent forms, one confidential client, a few users and
// back-channel logout.
//
//   node provider.mjs   (configured by the environment, below)
//
// It listens on a free port of 127.0.0.1 and prints one line,
// `issuer http://127.0.0.1:PORT`, once it accepts. The environment:
//   OIDC_CLIENT_ID, OIDC_CLIENT_SECRET    the static client
//   OIDC_REDIRECT_URIS                    comma-separated
//   OIDC_POST_LOGOUT_REDIRECT_URIS        comma-separated
//   OIDC_BACKCHANNEL_LOGOUT_URI           where logout tokens are sent
//   OIDC_CLAIMS_IN_ID_TOKEN=1             email and groups in the ID token
//                                         too (by default only in userinfo)
//
// Besides the provider's own routes, one for the tests only:
//   POST /test/forge  {"key": "provider"|"foreign"|"none", "claims": {...}}
//     a logout token signed with the provider's key, with another key under
//     the provider's key id, or unsigned (`alg: none`); `claims` override
//     valid defaults (iss, aud, iat, jti, sub, events).

import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';

import * as jose from 'jose';
import Provider from 'oidc-provider';

// Two domains; alice-new has alice's email under another subject (a
// reassigned address); carol collides with a local password user in the
// tests; dave's email is not verified; newcomer-N (below) are first logins.
const ACCOUNTS = {
  alice: { email: 'alice@example.com', email_verified: true, groups: ['staff', 'editors'] },
  bob: { email: 'bob@other.test', email_verified: true, groups: ['staff'] },
  'alice-new': { email: 'alice@example.com', email_verified: true, groups: ['staff'] },
  carol: { email: 'carol@example.com', email_verified: true, groups: ['staff'] },
  dave: { email: 'dave@example.com', email_verified: false, groups: ['staff'] },
};

const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

function list(name) {
  return (process.env[name] || '').split(',').filter(Boolean);
}

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`provider.mjs: ${name} is required`);
    process.exit(2);
  }
  return value;
}

async function signingKey(kid) {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  return { ...(await jose.exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
}

const clientId = required('OIDC_CLIENT_ID');
const clientSecret = required('OIDC_CLIENT_SECRET');
const providerKey = await signingKey('provider-key-1');
// Another key published nowhere, used under the provider's key id.
const foreignKey = await signingKey(providerKey.kid);

const server = createServer();
await new Promise((resolve) => { server.listen(0, '127.0.0.1', resolve); });
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: list('OIDC_REDIRECT_URIS'),
    post_logout_redirect_uris: list('OIDC_POST_LOGOUT_REDIRECT_URIS'),
    backchannel_logout_uri: process.env.OIDC_BACKCHANNEL_LOGOUT_URI || undefined,
    backchannel_logout_session_required: true,
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  jwks: { keys: [providerKey] },
  cookies: { keys: [randomUUID()] },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  conformIdTokenClaims: process.env.OIDC_CLAIMS_IN_ID_TOKEN !== '1',
  // PKCE from every client, confidential ones too.
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  // The provider's SSRF guard (an undici dispatcher) refuses loopback
  // addresses, where the tests' etoken instances listen: drop it.
  fetch(url, options) {
    const { dispatcher, ...rest } = options;
    return globalThis.fetch(url, rest);
  },
  async findAccount(ctx, id) {
    // newcomer-N@example.com, for as many first logins as a test needs.
    const account = ACCOUNTS[id] ?? (/^newcomer-\d{1,4}$/.test(id)
      ? { email: `${id}@example.com`, email_verified: true, groups: ['staff'] }
      : undefined);
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: id, preferred_username: id, ...account };
      },
    };
  },
});

for (const event of ['server_error', 'backchannel.error', 'grant.error', 'end_session.error']) {
  provider.on(event, (_ctx, error) => console.error(`provider: ${event}: ${error?.message ?? error}`));
}
provider.on('backchannel.success', (_ctx, client, accountId, sid) => {
  console.error(`provider: backchannel.success ${client.clientId} ${accountId} ${sid}`);
});

async function forge(body) {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: issuer,
    aud: clientId,
    iat: now,
    exp: now + 120,
    jti: randomUUID(),
    sub: 'alice',
    events: { [LOGOUT_EVENT]: {} },
    ...body.claims,
  };
  if (body.key === 'none') {
    return new jose.UnsecuredJWT(claims).encode();
  }
  const jwk = body.key === 'foreign' ? foreignKey : providerKey;
  return new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: jwk.kid, typ: 'logout+jwt' })
    .sign(await jose.importJWK(jwk, 'RS256'));
}

const callback = provider.callback();
server.on('request', (req, res) => {
  if (req.method === 'POST' && req.url === '/test/forge') {
    let text = '';
    req.on('data', (chunk) => { text += chunk; });
    req.on('end', async () => {
      try {
        const token = await forge(JSON.parse(text));
        res.writeHead(200, { 'content-type': 'text/plain' }).end(token);
      } catch (error) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(String(error));
      }
    });
    return;
  }
  callback(req, res);
});

console.log(`issuer ${issuer}`);
