// The identity provider behind authprobe's integration tests: a real
// oidc-provider (pinned by package-lock.json) with its own login, MFA and
// consent pages. It is started by the Go package in this directory (idp.go),
// which writes a JSON configuration file and passes its path as the only
// argument:
//
//   { "port": 0, "keys": {"keys": [private JWKs, the first signs]},
//     "pkjwtKey": public JWK or null, "totpSeed": "BASE32", "accessTokenTTL": 300 }
//
// The server listens on 127.0.0.1 (port 0 = any free port) and prints one line
// "authprobe-idp listening on http://127.0.0.1:PORT" once it accepts requests.
// It exits when its standard input closes (the Go test process went away) or
// on SIGTERM/SIGINT.
//
// The identities below are mirrored as constants in idp.go: keep them in sync.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as querystring from 'node:querystring';

import { createLocalJWKSet, jwtVerify } from 'jose';
import Provider, { errors, interactionPolicy } from 'oidc-provider';
// Deep imports of the pinned version: the stock in-memory adapter keeps at most
// 1000 entries in all, which a long test run can exceed.
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';

const AUDIENCE = 'urn:api';
const WEB_CLIENT = 'web';
const CONSENT_CLIENT = 'web-consent';
const ROPC_CLIENT = 'probe-ropc';
const REDIRECT_URI = 'http://127.0.0.1:1/callback';
const OIDC_SCOPES = ['openid', 'offline_access', 'profile', 'email'];
// Scopes of the resource server urn:api. It includes the OpenID scopes so that
// an access token for urn:api that was granted openid can also be used at the
// userinfo endpoint (see the AccessToken.find wrapper below).
const RESOURCE_SCOPES = 'openid profile email api';

const ACCOUNTS = new Map([
  ['probe', {
    password: 'probe-password', name: 'Probe User', email: 'probe@example.test',
  }],
  ['mfa', {
    password: 'mfa-password', name: 'MFA Probe User', email: 'mfa@example.test', totp: true,
  }],
]);

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const accessTokenTTL = config.accessTokenTTL || 300;
const privateKeys = config.keys?.keys ?? [];
if (!privateKeys.length) {
  throw new Error('configuration has no signing keys');
}
const totpKey = base32Decode(config.totpSeed || 'JBSWY3DPEHPK3PXP');

// ---------------------------------------------------------------- helpers

function base32Decode(input) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const out = [];
  let bits = 0;
  let value = 0;
  for (const c of input.toUpperCase().replace(/[\s=]/g, '')) {
    const i = alphabet.indexOf(c);
    if (i < 0) throw new Error(`invalid base32 character ${JSON.stringify(c)} in TOTP seed`);
    value = ((value << 5) | i) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

// RFC 4226 HOTP / RFC 6238 TOTP: HMAC-SHA1, 6 digits, 30 s steps.
function hotp(key, counter) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = crypto.createHmac('sha1', key).update(msg).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

function totpValid(code) {
  if (typeof code !== 'string' || !/^\d{6}$/.test(code.trim())) return false;
  const step = Math.floor(Date.now() / 1000 / 30);
  return [-1, 0, 1].some((d) => safeEqual(hotp(totpKey, step + d), code.trim()));
}

function safeEqual(a, b) {
  if (typeof a !== 'string' || typeof b !== 'string') return false;
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb) && a === b;
}

function signingAlg(jwk) {
  if (jwk.alg) return jwk.alg;
  switch (jwk.kty) {
    case 'RSA': return 'RS256';
    case 'EC': return { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' }[jwk.crv];
    case 'OKP': return 'EdDSA';
    default: throw new Error(`unsupported signing key type ${jwk.kty}`);
  }
}

function publicJWK(jwk) {
  const {
    d, p, q, dp, dq, qi, oth, k, ...pub
  } = jwk;
  return pub;
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const LIMIT = 64 * 1024;
async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > LIMIT) throw Object.assign(new Error('request body too large'), { status: 413 });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function isForm(req) {
  return (req.headers['content-type'] || '').split(';')[0].trim().toLowerCase()
    === 'application/x-www-form-urlencoded';
}

// ---------------------------------------------------------------- provider

const alg = signingAlg(privateKeys[0]);
const resourceServerInfo = {
  scope: RESOURCE_SCOPES,
  audience: AUDIENCE,
  accessTokenFormat: 'jwt',
  accessTokenTTL,
  jwt: { sign: { alg, kid: privateKeys[0].kid } },
};

const consentPolicy = interactionPolicy.base();
// web-consent shows the consent page on every authorization, even when an
// earlier one in the same session was already granted.
consentPolicy.get('consent').checks.add(new interactionPolicy.Check(
  'always_consent',
  'this client asks for consent every time',
  (ctx) => (ctx.oidc.client.clientId === CONSENT_CLIENT && !ctx.oidc.result?.consent
    ? interactionPolicy.Check.REQUEST_PROMPT
    : interactionPolicy.Check.NO_NEED_TO_PROMPT),
));

const webClientDefaults = {
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  redirect_uris: [REDIRECT_URI],
  token_endpoint_auth_method: 'client_secret_basic',
};
const tokenOnly = { response_types: [], redirect_uris: [] };
const clients = [
  {
    client_id: 'probe-cc', client_secret: 'probe-cc-secret', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', ...tokenOnly,
  },
  {
    client_id: 'probe-post', client_secret: 'probe-post-secret', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_post', ...tokenOnly,
  },
  { client_id: WEB_CLIENT, client_secret: 'web-secret', ...webClientDefaults },
  { client_id: CONSENT_CLIENT, client_secret: 'web-consent-secret', ...webClientDefaults },
  {
    client_id: ROPC_CLIENT, client_secret: 'probe-ropc-secret', grant_types: ['password', 'refresh_token'], token_endpoint_auth_method: 'client_secret_basic', ...tokenOnly,
  },
];
if (config.pkjwtKey) {
  clients.push({
    client_id: 'probe-pkjwt',
    grant_types: ['client_credentials'],
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'RS256',
    jwks: { keys: [publicJWK(config.pkjwtKey)] },
    ...tokenOnly,
  });
}

const store = new LRU({ maxSize: 1_000_000 });

const configuration = {
  adapter: (name) => new MemoryAdapter(name, store),
  clients,
  jwks: { keys: privateKeys },
  cookies: {
    // Signed cookies. Nothing forces "Secure": oidc-provider only adds it when
    // the request itself is https, so the cookies work on http://127.0.0.1.
    keys: [crypto.randomBytes(32).toString('base64url')],
  },
  scopes: OIDC_SCOPES,
  claims: {
    // amr ("pwd", or "pwd otp" for the MFA user) goes into every ID token.
    openid: ['sub', 'amr'],
    profile: ['name'],
    email: ['email', 'email_verified'],
  },
  clientDefaults: {
    grant_types: ['authorization_code'],
    id_token_signed_response_alg: alg,
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  },
  enabledJWA: {
    idTokenSigningAlgValues: [...new Set([alg, 'RS256', 'PS256', 'ES256', 'EdDSA'])],
  },
  pkce: { required: () => true }, // S256 is the only method oidc-provider 9 supports
  responseTypes: ['code', 'none'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    userinfo: { enabled: true },
    rpInitiatedLogout: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, _client, oneOf) => oneOf ?? AUDIENCE,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, indicator) => {
        if (indicator === AUDIENCE) return resourceServerInfo;
        throw new errors.InvalidTarget(`unknown resource indicator ${indicator}`);
      },
    },
  },
  findAccount: async (_ctx, sub) => {
    const account = ACCOUNTS.get(sub);
    if (!account) return undefined;
    return {
      accountId: sub,
      claims: async () => ({
        sub, name: account.name, email: account.email, email_verified: true,
      }),
    };
  },
  // offline_access is dropped from authorization requests without
  // prompt=consent (OpenID Connect Core 11), so it cannot be the trigger:
  // every client allowed the refresh_token grant gets a refresh token.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  expiresWithSession: async () => false,
  // web is first-party: whatever it asks for is granted without a consent page.
  loadExistingGrant: async (ctx) => {
    const { oidc } = ctx;
    const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
    let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
    if (oidc.client.clientId !== WEB_CLIENT) return grant;
    grant ||= new oidc.provider.Grant({
      accountId: oidc.account.accountId,
      clientId: oidc.client.clientId,
    });
    const oidcScopes = [...oidc.requestParamOIDCScopes];
    if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(' '));
    if (oidc.requestParamClaims?.size) grant.addOIDCClaims([...oidc.requestParamClaims]);
    for (const [indicator, rs] of Object.entries(oidc.resourceServers)) {
      const scopes = [...oidc.requestParamScopes].filter((s) => rs.scopes.has(s));
      if (scopes.length) grant.addResourceScope(indicator, scopes.join(' '));
    }
    await grant.save();
    return grant;
  },
  interactions: {
    policy: consentPolicy,
    url: async (_ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = page('Error', `<h1>Error</h1>${Object.entries(out).map(([k, v]) => `<p class="error"><strong>${esc(k)}</strong>: ${esc(v)}</p>`).join('')}`);
  },
  ttl: {
    AccessToken: accessTokenTTL,
    ClientCredentials: accessTokenTTL,
    AuthorizationCode: 60,
    IdToken: 3600,
    RefreshToken: 24 * 3600,
    Interaction: 3600,
    Session: 24 * 3600,
    Grant: 24 * 3600,
  },
  // The defaults of these only print "you SHOULD change it" notices.
  clientBasedCORS: () => false,
};
configuration.features.introspection.allowedPolicy = async (_ctx, client, token) => (
  client.clientAuthMethod !== 'none' || token.clientId === client.clientId
);
configuration.features.revocation.allowedPolicy = async (_ctx, client, token) => (
  token.clientId === client.clientId
);

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(config.port || 0, '127.0.0.1', resolve);
});
// The issuer is the listening address unless the test names one: replicas
// of one logical IdP share an issuer and are reached by fan-out.
const issuer = config.issuer || `http://127.0.0.1:${server.address().port}`;
const provider = new Provider(issuer, configuration);
provider.on('server_error', (_ctx, err) => console.error('authprobe-idp: server_error', err));
// Shown by the Go side when a test fails: why a request was refused.
for (const event of ['grant.error', 'introspection.error', 'revocation.error', 'userinfo.error', 'authorization.error', 'end_session.error']) {
  provider.on(event, (ctx, err) => console.error(`authprobe-idp: ${event}: ${err.error}: ${err.error_description}${err.error_detail ? ` (${err.error_detail})` : ''}${ctx?.oidc?.client ? ` client=${ctx.oidc.client.clientId}` : ''}`));
}
// Discovery lists the resource server's scope "api" beside the OpenID scopes.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.oidc?.route === 'discovery' && ctx.body?.scopes_supported) {
    ctx.body.scopes_supported = [...new Set([...ctx.body.scopes_supported, ...RESOURCE_SCOPES.split(' ')])];
  }
});

// ----------------------------------------- JWT access tokens: storage and lookup
//
// oidc-provider issues JWT access tokens without storing them and refuses to
// introspect or revoke structured tokens. This IdP keeps a record of each one
// under its jti (the same record an opaque token would have), and the HTTP
// layer below swaps a valid JWT for its jti at the introspection and revocation
// endpoints. Revoking deletes the record, so introspection then says inactive.

for (const Model of [provider.AccessToken, provider.ClientCredentials]) {
  const original = Model.prototype.getValueAndPayload;
  Model.prototype.getValueAndPayload = async function getValueAndPayload() {
    // A client credentials request without scope gets the API's scope.
    if (this.kind === 'ClientCredentials' && !this.scope && this.resourceServer) this.scope = 'api';
    const result = await original.call(this);
    if (this.format !== 'jwt' || result.payload) return result;
    const claims = JSON.parse(Buffer.from(result.value.split('.')[1], 'base64url').toString());
    const payload = {};
    for (const key of Model.IN_PAYLOAD) {
      if (this[key] !== undefined) payload[key] = this[key];
    }
    Object.assign(payload, {
      iat: claims.iat, exp: claims.exp, jti: this.jti, kind: this.kind,
    });
    return { value: result.value, payload };
  };
}

const localJWKS = createLocalJWKSet({ keys: privateKeys.map(publicJWK) });
const looksLikeJWT = (v) => typeof v === 'string' && /^[\w-]+\.[\w-]+\.[\w-]*$/.test(v);

// The jti of a JWT access token this IdP issued and that is still unexpired and
// correctly signed; undefined otherwise.
async function verifiedJti(jwt) {
  try {
    const { payload } = await jwtVerify(jwt, localJWKS, { issuer, typ: 'at+jwt' });
    return typeof payload.jti === 'string' ? payload.jti : undefined;
  } catch {
    return undefined;
  }
}

// The userinfo endpoint looks its bearer token up with AccessToken.find; this
// lets it accept the JWT form. oidc-provider refuses tokens with an audience at
// userinfo, so the audience is dropped from the looked-up copy (only the
// userinfo endpoint calls find with a JWT: introspection and revocation get the
// jti, see above).
{
  const { AccessToken } = provider;
  const find = AccessToken.find.bind(AccessToken);
  AccessToken.find = async (value, ...rest) => {
    if (!looksLikeJWT(value)) return find(value, ...rest);
    const jti = await verifiedJti(value);
    if (!jti) return undefined;
    const token = await find(jti, ...rest);
    if (token) delete token.aud;
    return token;
  };
}

// oidc-provider notes once that it was handed an already read body; that is
// this server's doing (tokenToJti), not an upstream body parser.
{
  const { warn } = console;
  console.warn = (...args) => {
    if (typeof args[0] === 'string' && args[0].includes('already parsed request body detected')) return;
    warn(...args);
  };
}

const introspectionPath = new URL(provider.urlFor('introspection')).pathname;
const revocationPath = new URL(provider.urlFor('revocation')).pathname;

async function tokenToJti(req) {
  const body = await readBody(req);
  const params = querystring.parse(body);
  if (looksLikeJWT(params.token)) {
    // An invalid, tampered or expired JWT becomes a value that matches nothing:
    // introspection answers {"active":false}, revocation 200.
    params.token = (await verifiedJti(params.token)) ?? `invalid-${crypto.randomUUID()}`;
  }
  req.body = querystring.stringify(params);
}

// ---------------------------------------------------------------- password grant

provider.registerGrantType('password', async (ctx) => {
  const { client, params } = ctx.oidc;
  const account = ACCOUNTS.get(params.username);
  if (!account || !safeEqual(account.password, params.password)) {
    throw new errors.InvalidGrant('invalid username or password');
  }
  if (account.totp) {
    throw new errors.InvalidGrant('this user needs multi-factor authentication, which the password grant cannot do');
  }
  if (params.resource !== undefined && params.resource !== AUDIENCE) {
    throw new errors.InvalidTarget();
  }
  const requested = new Set((params.scope || 'api').split(' ').filter(Boolean));
  const rsScopes = new Set(RESOURCE_SCOPES.split(' '));
  for (const scope of requested) {
    if (!rsScopes.has(scope) && !OIDC_SCOPES.includes(scope)) {
      throw new errors.InvalidScope('requested scope is not allowed', scope);
    }
  }

  const { Grant, AccessToken, RefreshToken } = provider;
  const grant = new Grant({ accountId: params.username, clientId: client.clientId });
  const oidcScopes = [...requested].filter((s) => OIDC_SCOPES.includes(s));
  if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(' '));
  const atScopes = [...requested].filter((s) => rsScopes.has(s));
  if (atScopes.length) grant.addResourceScope(AUDIENCE, atScopes.join(' '));
  const grantId = await grant.save();

  const at = new AccessToken({
    accountId: params.username,
    client,
    grantId,
    gty: 'password',
    expiresWithSession: false,
  });
  at.resourceServer = new provider.ResourceServer(AUDIENCE, resourceServerInfo);
  at.scope = atScopes.join(' ') || undefined;
  ctx.oidc.entity('AccessToken', at);
  const accessToken = await at.save();

  let refreshToken;
  if (requested.has('offline_access') && client.grantTypeAllowed('refresh_token')) {
    const rt = new RefreshToken({
      accountId: params.username,
      client,
      grantId,
      gty: 'password',
      resource: AUDIENCE,
      rotations: 0,
      scope: [...requested].join(' '),
      expiresWithSession: false,
    });
    ctx.oidc.entity('RefreshToken', rt);
    refreshToken = await rt.save();
  }

  ctx.body = {
    access_token: accessToken,
    token_type: at.tokenType,
    expires_in: at.expiration,
    scope: at.scope,
    refresh_token: refreshToken,
  };
}, ['username', 'password', 'scope', 'resource']);

// ---------------------------------------------------------------- interactions

// Per interaction: the CSRF value its forms carry and, between the password and
// the code, the account that gave the right password.
const pending = new Map();
function stateFor(uid) {
  let state = pending.get(uid);
  if (!state) {
    const now = Date.now();
    for (const [k, v] of pending) if (now - v.created > 3600_000) pending.delete(k);
    state = { csrf: crypto.randomBytes(24).toString('base64url'), created: now };
    pending.set(uid, state);
  }
  return state;
}

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body>
${body}
</body>
</html>
`;
}

function loginPage(uid, state, { error, username = '' } = {}) {
  return page('Sign in', `<h1>Sign in</h1>
${error ? `<p class="error">${esc(error)}</p>\n` : ''}<form method="post" action="/interaction/${esc(uid)}/login">
  <input type="hidden" name="csrf" value="${esc(state.csrf)}">
  <label>Username <input id="username" name="username" type="text" autocomplete="username" value="${esc(username)}"></label>
  <label>Password <input id="password" name="password" type="password" autocomplete="current-password"></label>
  <button id="submit" type="submit">Sign in</button>
</form>`);
}

function mfaPage(uid, state, { error } = {}) {
  return page('Verification code', `<h1>Enter your verification code</h1>
${error ? `<p class="error">${esc(error)}</p>\n` : ''}<form method="post" action="/interaction/${esc(uid)}/mfa">
  <input type="hidden" name="csrf" value="${esc(state.csrf)}">
  <label>Code <input id="otp" name="otp" type="text" inputmode="numeric" autocomplete="one-time-code"></label>
  <button id="submit" type="submit">Verify</button>
</form>`);
}

function consentPage(uid, state, clientId, details) {
  const scopes = [
    ...(details.missingOIDCScope ?? []),
    ...Object.values(details.missingResourceScopes ?? {}).flat(),
  ];
  return page('Authorize', `<h1>Authorize ${esc(clientId)}</h1>
<p>${esc(clientId)} asks for: <span id="scopes">${esc([...new Set(scopes)].join(' '))}</span></p>
<form method="post" action="/interaction/${esc(uid)}/confirm">
  <input type="hidden" name="csrf" value="${esc(state.csrf)}">
  <button id="allow" type="submit">Allow</button>
</form>`);
}

function send(res, status, html) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(html);
}

async function interaction(req, res, pathname) {
  const m = /^\/interaction\/([\w-]+)(?:\/(login|mfa|confirm))?$/.exec(pathname);
  if (!m) return send(res, 404, page('Not found', '<p class="error">Not found</p>'));
  const [, uid, action] = m;

  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    if (err instanceof errors.SessionNotFound) {
      return send(res, 400, page('Error', `<p class="error">${esc(err.error_description || err.message)}</p>`));
    }
    throw err;
  }
  if (details.uid !== uid) {
    return send(res, 400, page('Error', '<p class="error">interaction mismatch</p>'));
  }
  const state = stateFor(uid);
  const { prompt, params } = details;

  if (req.method === 'GET' && !action) {
    switch (prompt.name) {
      case 'login':
        return send(res, 200, state.account ? mfaPage(uid, state) : loginPage(uid, state));
      case 'consent':
        return send(res, 200, consentPage(uid, state, params.client_id, prompt.details));
      default:
        return send(res, 400, page('Error', `<p class="error">unsupported prompt ${esc(prompt.name)}</p>`));
    }
  }
  if (req.method !== 'POST' || !action) {
    res.setHeader('Allow', action ? 'POST' : 'GET');
    return send(res, 405, page('Error', '<p class="error">method not allowed</p>'));
  }

  const form = isForm(req) ? querystring.parse(await readBody(req)) : {};
  if (!safeEqual(form.csrf, state.csrf)) {
    return send(res, 403, page('Error', '<p class="error">Invalid or missing CSRF token</p>'));
  }
  const finish = async (result, merge) => {
    pending.delete(uid);
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: merge });
  };

  switch (action) {
    case 'login': {
      if (prompt.name !== 'login') break;
      const username = typeof form.username === 'string' ? form.username : '';
      const account = ACCOUNTS.get(username);
      if (!account || !safeEqual(account.password, form.password)) {
        return send(res, 200, loginPage(uid, state, { error: 'Invalid username or password', username }));
      }
      if (account.totp) {
        state.account = username;
        return send(res, 200, mfaPage(uid, state));
      }
      return finish({ login: { accountId: username, amr: ['pwd'] } }, false);
    }
    case 'mfa': {
      if (prompt.name !== 'login') break;
      if (!state.account) {
        return send(res, 200, loginPage(uid, state, { error: 'Sign in with your password first' }));
      }
      if (!totpValid(form.otp)) {
        return send(res, 200, mfaPage(uid, state, { error: 'Invalid code' }));
      }
      return finish({ login: { accountId: state.account, amr: ['pwd', 'otp'] } }, false);
    }
    case 'confirm': {
      if (prompt.name !== 'consent') break;
      const { details: missing } = prompt;
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      const grantId = await grant.save();
      return finish({ consent: details.grantId ? {} : { grantId } }, true);
    }
    default:
  }
  return send(res, 400, page('Error', `<p class="error">${esc(action)} does not fit the ${esc(prompt.name)} step</p>`));
}

// ---------------------------------------------------------------- HTTP

const callback = provider.callback();
server.on('request', async (req, res) => {
  try {
    const { pathname } = new URL(req.url, issuer);
    if (pathname === '/__test/ready') {
      res.setHeader('Content-Type', 'text/plain');
      res.end('ok\n');
      return;
    }
    if (pathname.startsWith('/interaction/')) {
      await interaction(req, res, pathname);
      return;
    }
    if (req.method === 'POST' && isForm(req)
      && (pathname === introspectionPath || pathname === revocationPath)) {
      await tokenToJti(req);
    }
    callback(req, res);
  } catch (err) {
    console.error('authprobe-idp:', req.method, req.url, err);
    if (!res.headersSent) {
      send(res, err.status || 500, page('Error', '<p class="error">internal error</p>'));
    } else {
      res.destroy();
    }
  }
});

function shutdown() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
// The Go side holds our stdin open; EOF means it has gone away.
process.stdin.on('end', shutdown);
process.stdin.on('error', shutdown);
process.stdin.resume();

console.log(`authprobe-idp listening on http://127.0.0.1:${server.address().port}`);
