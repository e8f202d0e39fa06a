// etoken.js: nginx verifies encapsulated tokens (et2) in njs, for operators
// who cannot load the compiled module (contrib/nginx-module/). Written from
// docs/FORMAT.md alone: the checks of section 4 in its order, with the same
// refusals as src/verify.rs, and the tag compared in constant time.
//
//   js_import etoken from /etc/nginx/njs/etoken.js;
//   js_var $etoken_ring /etc/etoken/ring.json;   # `etoken key export`
//   js_var $etoken_audience farm;                # empty: tokens carry none
//   js_var $etoken_leeway 30;                    # seconds (default 30)
//   js_set $etoken_user etoken.user;
//   js_set $etoken_reason etoken.reason;
//   js_set $etoken_set_cookie etoken.setCookie;  # clears an ambiguous cookie
//   add_header Set-Cookie $etoken_set_cookie always;
//
// Every login cookie of every Cookie header is verified (the Rust
// handler's rule): junk ones are skipped, valid ones naming two users are
// refused as ambiguous_cookies and the cookie cleared.
//
// njs gives each request a fresh copy of the script's state, so the ring
// document is read and parsed on every request that carries a token (a
// replaced file is used at once, with no reload). It does not read the
// users file: see docs/OPERATIONS.md.

var crypto = require('crypto');
var fs = require('fs');

var PREFIX = 'et2.';
var MAX_TOKEN_LEN = 1024;
var MIN_BODY_LEN = 80;
var MAX_TIME = 253402300799;
var DEFAULT_LEEWAY = 30;
var MAX_RING_LEN = 65536;
var RING_FORMAT = 'encapsulated-token-ring-json/1';
var ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
var COOKIE_NAMES = ['__Host-login-token', 'login-token'];
// The core's MAX_COOKIE_BYTES: every Cookie header together.
var MAX_COOKIE_BYTES = 65536;

function refused(kind, position) {
    return { error: { kind: kind, position: position === undefined ? null : position } };
}

function isNameByte(b) {
    return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) ||
        b === 0x2e || b === 0x5f || b === 0x2d;
}

// The offset of the first byte of the first invalid UTF-8 sequence in
// bytes[start, end), or -1.
function invalidUtf8(bytes, start, end) {
    var i = start;
    while (i < end) {
        var b = bytes[i];
        var n = 0, lo = 0x80, hi = 0xbf;
        if (b < 0x80) { i++; continue; }
        if (b >= 0xc2 && b <= 0xdf) { n = 1; }
        else if (b === 0xe0) { n = 2; lo = 0xa0; }
        else if (b >= 0xe1 && b <= 0xec) { n = 2; }
        else if (b === 0xed) { n = 2; hi = 0x9f; }
        else if (b >= 0xee && b <= 0xef) { n = 2; }
        else if (b === 0xf0) { n = 3; lo = 0x90; }
        else if (b >= 0xf1 && b <= 0xf3) { n = 3; }
        else if (b === 0xf4) { n = 3; hi = 0x8f; }
        else { return i; }
        if (i + n >= end) { return i; }
        for (var k = 1; k <= n; k++) {
            var c = bytes[i + k];
            var min = k === 1 ? lo : 0x80, max = k === 1 ? hi : 0xbf;
            if (c < min || c > max) { return i; }
        }
        i += n + 1;
    }
    return -1;
}

// A payload rule broken at offset `o` of the payload.
function PayloadError(o) { this.offset = o; }

function checkText(p, start, len, bound) {
    if (len > bound) { throw new PayloadError(start + bound); }
    var bad = invalidUtf8(p, start, start + len);
    if (bad >= 0) { throw new PayloadError(bad); }
    for (var i = start; i < start + len; i++) {
        if (p[i] < 0x20 || p[i] === 0x7f) { throw new PayloadError(i); }
    }
}

function uint64(p, at) {
    return p.readUInt32BE(at) * 4294967296 + p.readUInt32BE(at + 4);
}

// Step 6: every rule of section 2, in order.
function parsePayload(p) {
    var at = 0;
    function take(n) {
        if (at + n > p.length) { throw new PayloadError(p.length); }
        var start = at;
        at += n;
        return start;
    }
    function prefixed() {
        var n = p[take(1)];
        return { start: take(n), len: n };
    }
    take(8);
    var iat = uint64(p, 0);
    if (iat > MAX_TIME) { throw new PayloadError(0); }
    take(8);
    var exp = uint64(p, 8);
    if (exp > MAX_TIME || exp <= iat) { throw new PayloadError(8); }
    take(8);
    var session = uint64(p, 16);
    if (session > iat) { throw new PayloadError(16); }
    var tokenId = take(16);

    var subject = prefixed();
    if (subject.len === 0) { throw new PayloadError(subject.start); }
    checkText(p, subject.start, subject.len, 255);
    var audience = prefixed();
    if (audience.len > 0) { checkText(p, audience.start, audience.len, 64); }

    var countAt = take(1);
    var count = p[countAt];
    if (count > 8) { throw new PayloadError(countAt); }
    var attributes = {};
    var previous = null;
    for (var r = 0; r < count; r++) {
        var recordAt = at;
        var name = prefixed();
        if (name.len === 0) { throw new PayloadError(name.start); }
        if (name.len > 32) { throw new PayloadError(name.start + 32); }
        for (var i = name.start; i < name.start + name.len; i++) {
            if (!isNameByte(p[i])) { throw new PayloadError(i); }
        }
        var nameText = p.toString('utf8', name.start, name.start + name.len);
        if (previous !== null && !(previous < nameText)) { throw new PayloadError(recordAt); }
        var value = prefixed();
        checkText(p, value.start, value.len, 128);
        attributes[nameText] = p.toString('utf8', value.start, value.start + value.len);
        previous = nameText;
    }
    if (at !== p.length) { throw new PayloadError(at); }
    return {
        subject: p.toString('utf8', subject.start, subject.start + subject.len),
        issued_at: iat,
        expires_at: exp,
        session_started_at: session,
        token_id: p.toString('hex', tokenId, tokenId + 16),
        audience: audience.len ? p.toString('utf8', audience.start, audience.start + audience.len) : null,
        attributes: attributes
    };
}

// Equal in time independent of where they differ (both 32 bytes).
function tagsEqual(a, b) {
    var diff = a.length ^ b.length;
    for (var i = 0; i < 32; i++) { diff |= a[i] ^ b[i]; }
    return diff === 0;
}

// Section 4, steps 1 to 8: {valid: {key_id, claims}} or {error: {kind, position}}.
// `keys` maps key ids (8 hex digits) to 32-byte Buffers.
function verify(token, keys, audience, leeway, maxLength, now) {
    // 1. Length (bytes; a character is at least one).
    if (token.length > maxLength || Buffer.byteLength(token) > maxLength) {
        return refused('too_long');
    }
    // 2. Version.
    if (token.slice(0, 4) !== PREFIX) {
        if (/^et[0-9]{1,8}\./.test(token)) { return refused('unsupported_version'); }
        for (var i = 0; i < 4; i++) {
            if (i >= token.length) { return refused('malformed', token.length); }
            if (token[i] !== PREFIX[i]) { return refused('malformed', i); }
        }
    }
    // 3. Encoding: canonical base64url without padding.
    var encoded = token.slice(4);
    if (!/^[A-Za-z0-9_-]*$/.test(encoded)) {
        for (var j = 0; ALPHABET.indexOf(encoded[j]) >= 0; j++) { /* the first outside */ }
        return refused('malformed', 4 + j);
    }
    var rest = encoded.length % 4;
    if (rest === 1) { return refused('malformed', token.length); }
    if (encoded.length > 0 && rest !== 0) {
        var unused = rest === 2 ? 4 : 2;
        if (ALPHABET.indexOf(encoded[encoded.length - 1]) & ((1 << unused) - 1)) {
            return refused('malformed', token.length - 1);
        }
    }
    var body = Buffer.from(encoded, 'base64url');
    if (body.length < MIN_BODY_LEN) { return refused('malformed', token.length); }
    // 4. Key id.
    var keyId = body.toString('hex', 0, 4);
    var key = Object.prototype.hasOwnProperty.call(keys, keyId) ? keys[keyId] : undefined;
    if (key === undefined) { return refused('unknown_key_id'); }
    // 5. Tag, before anything of the payload is read.
    var signed = body.subarray(0, body.length - 32);
    var expected = crypto.createHmac('sha256', key).update(PREFIX).update(signed).digest();
    if (!tagsEqual(expected, body.subarray(body.length - 32))) { return refused('bad_tag'); }
    // 6. Payload.
    var claims;
    try {
        claims = parsePayload(body.subarray(4, body.length - 32));
    } catch (e) {
        if (!(e instanceof PayloadError)) { throw e; }
        return refused('malformed', 4 + Math.floor((4 * (4 + e.offset)) / 3));
    }
    // 7. Times.
    if (now + leeway < claims.issued_at) { return refused('not_yet_valid'); }
    if (now >= claims.expires_at + leeway) { return refused('expired'); }
    // 8. Audience.
    if (claims.audience !== audience) { return refused('wrong_audience'); }
    return { valid: { key_id: keyId, claims: claims } };
}

// Section 8: the ring document's keys, by id, or null when it is refused.
function parseRing(text) {
    if (text.length > MAX_RING_LEN || text.indexOf('\\') >= 0) { return null; }
    var doc;
    try { doc = JSON.parse(text); } catch (e) { return null; }
    if (!doc || typeof doc !== 'object' || Object.keys(doc).length !== 3 ||
        doc.format !== RING_FORMAT || !Array.isArray(doc.keys) || doc.keys.length === 0) {
        return null;
    }
    var keys = {};
    for (var i = 0; i < doc.keys.length; i++) {
        var k = doc.keys[i];
        if (!k || typeof k !== 'object' || Object.keys(k).length !== 3 ||
            typeof k.id !== 'string' || !/^[0-9a-f]{8}$/.test(k.id) ||
            typeof k.created !== 'string' || typeof k.secret !== 'string' ||
            !/^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/.test(k.secret) ||
            Object.prototype.hasOwnProperty.call(keys, k.id)) {
            return null;
        }
        keys[k.id] = Buffer.from(k.secret, 'base64url');
    }
    if (typeof doc.active !== 'string' || !Object.prototype.hasOwnProperty.call(keys, doc.active)) {
        return null;
    }
    return keys;
}

function bearer(header) {
    var m = /^bearer +(\S+) *$/i.exec(header || '');
    return m ? m[1] : null;
}

// Every login cookie of every Cookie header, in the order sent, as
// {name, value}; null over MAX_COOKIE_BYTES. Each ';'-separated pair stands
// alone, so a pair with junk or bytes that are not UTF-8 spoils only itself.
function loginCookies(r) {
    var headers = r.rawHeadersIn.filter(function (h) { return h[0].toLowerCase() === 'cookie'; });
    var total = 0;
    var found = [];
    for (var i = 0; i < headers.length; i++) {
        total += Buffer.byteLength(headers[i][1]);
        if (total > MAX_COOKIE_BYTES) { return null; }
        var pairs = headers[i][1].split(';');
        for (var j = 0; j < pairs.length; j++) {
            var pair = pairs[j].trim();
            var eq = pair.indexOf('=');
            if (eq > 0 && COOKIE_NAMES.indexOf(pair.slice(0, eq)) >= 0) {
                found.push({ name: pair.slice(0, eq), value: pair.slice(eq + 1) });
            }
        }
    }
    return found;
}

// The core's rule (Verifier::verify_one_of_at): invalid cookies are
// skipped, valid ones naming two users are refused, else the most
// recently issued wins (the first on a tie); with none valid, the first
// error.
function oneOf(cookies, keys, audience, leeway, now) {
    var chosen = null;
    var firstError = null;
    for (var i = 0; i < cookies.length; i++) {
        var result = verify(cookies[i].value, keys, audience, leeway, MAX_TOKEN_LEN, now);
        if (!result.valid) {
            if (firstError === null) { firstError = result.error; }
            continue;
        }
        var claims = result.valid.claims;
        if (chosen !== null && chosen.claims.subject !== claims.subject) {
            return { error: { kind: 'ambiguous_cookies' }, cookie: cookies[0].name };
        }
        if (chosen === null || claims.issued_at > chosen.claims.issued_at) {
            chosen = { claims: claims, cookie: cookies[i].name };
        }
    }
    return chosen ? { valid: chosen } : { error: firstError };
}

// One request's outcome, computed once for the variables.
var outcome = null;

function check(r) {
    if (outcome !== null && outcome.request === r) { return outcome; }
    outcome = { request: r, user: '', reason: 'no_token', clear: '' };
    var token = bearer(r.headersIn.Authorization);
    var cookies = token === null ? loginCookies(r) : [];
    if (cookies === null) {
        outcome.reason = 'bad_cookies';
        return outcome;
    }
    if (token === null && cookies.length === 0) { return outcome; }
    var keys = null;
    try {
        var path = r.variables.etoken_ring;
        if (path) { keys = parseRing(fs.readFileSync(path, 'utf8')); }
    } catch (e) {
        keys = null;
    }
    if (keys === null) {
        r.error('etoken: $etoken_ring does not name a readable ring document');
        outcome.reason = 'ring_unreadable';
        return outcome;
    }
    var audience = r.variables.etoken_audience || null;
    var leeway = Number(r.variables.etoken_leeway || DEFAULT_LEEWAY);
    var now = Math.floor(Date.now() / 1000);
    var result = token !== null
        ? verify(token, keys, audience, leeway, MAX_TOKEN_LEN, now)
        : oneOf(cookies, keys, audience, leeway, now);
    if (result.valid) {
        outcome.user = result.valid.claims.subject;
        outcome.reason = '';
    } else {
        outcome.reason = result.error.kind;
        if (result.error.kind === 'ambiguous_cookies') {
            // Neither is trusted and the cookie is cleared, as the Rust
            // handler does: the user logs in again as one user.
            outcome.clear = result.cookie + '=; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=0';
        }
    }
    return outcome;
}

function user(r) { return check(r).user; }

function reason(r) { return check(r).reason; }

function setCookie(r) { return check(r).clear; }

export default { user: user, reason: reason, setCookie: setCookie, verify: verify, parseRing: parseRing };
