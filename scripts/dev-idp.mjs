#!/usr/bin/env node
// The dev identity provider behind the console's one-click sign-in in `npm run dev`: a minimal
// OpenID provider (discovery, authorize page, token endpoint with PKCE S256, JWKS) that signs with
// the dev IdP key of `npm run token` and issues exactly the access token `npm run token` would.
//
// It is a separate Node process that only scripts/dev.mjs starts, listening on 127.0.0.1 only,
// with a key that exists only in this checkout (.keygate/, git-ignored). Nothing of it is in the
// worker bundle, so no deployment can offer this shortcut: a deployed keygate only trusts the
// identity provider its vars name.
//
//   node scripts/dev-idp.mjs --client-id <id> [--port 8790] [--idp-key file] [--sub user] [--tenant t]...
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { importJWK, SignJWT } from "jose";
import { ROLES } from "../src/vocab/roles.mjs";
import { IDP_KEY } from "./lib/dev-state.mjs";
import { mintDevAccessToken } from "./lib/dev-token.mjs";
import { publicJwk } from "./lib/keys.mjs";

const DEV_USER = "user-123";
const DEV_TENANTS = ["my-tenant", "demo-tenant"];
/** The roles the sign-in page offers: every role of the vocabulary. */
const ROLE_CHOICES = ROLES;
/** The console's callback (console/src/lib/oidc.ts): the only redirect path this client may use. */
const CALLBACK_PATH = "/console/callback";
/** RFC 6749 §4.1.2 recommends at most 10 minutes; one is plenty for a click. */
const CODE_TTL_SECONDS = 60;
const ID_TOKEN_TTL_SECONDS = 600;
const FORM_MAX_BYTES = 16 * 1024;

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    "idp-key": { type: "string" },
    "client-id": { type: "string" },
    sub: { type: "string", default: DEV_USER },
    tenant: { type: "string", multiple: true },
  },
});

if (!values["client-id"]) {
  console.error("usage: node scripts/dev-idp.mjs --client-id <id> [--port <port>] [--idp-key <file>] [--sub <user>] [--tenant <t>]...");
  process.exit(2);
}
const jwk = JSON.parse(readFileSync(values["idp-key"] ?? IDP_KEY, "utf8"));
const signingKey = await importJWK(jwk, "RS256");
const clientId = values["client-id"];
const user = { sub: values.sub, tenants: values.tenant ?? DEV_TENANTS };
/** code -> the authorization it stands for; single use. */
const codes = new Map();

function isLoopback(hostname) {
  return hostname === "localhost" || hostname === "[::1]" || hostname.startsWith("127.");
}

/** The dev client may return to the console on any loopback host and port, only at its callback. */
function validRedirectUri(value) {
  try {
    const url = new URL(value);
    return (
      (url.protocol === "http:" || url.protocol === "https:") &&
      isLoopback(url.hostname) &&
      url.pathname === CALLBACK_PATH &&
      !url.search &&
      !url.hash
    );
  } catch {
    return false;
  }
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { "cache-control": "no-store", ...headers });
  res.end(body);
}

function json(res, status, body) {
  send(res, status, JSON.stringify(body), { "content-type": "application/json", "access-control-allow-origin": "*" });
}

function page(res, status, title, body, redirectOrigin) {
  const csp = `default-src 'none'; style-src 'unsafe-inline'; form-action 'self'${redirectOrigin ? ` ${redirectOrigin}` : ""}; frame-ancestors 'none'; base-uri 'none'`;
  send(
    res,
    status,
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:12vh auto;padding:0 1rem;color:#1b1f24}h1{font-size:1.4rem}
button{font:inherit;font-size:1.05rem;padding:.6rem 1.2rem;border-radius:6px;border:1px solid #1f4e79;background:#1f4e79;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#1f4e79}.note{color:#57606a;font-size:.9rem}form{display:flex;gap:.75rem;flex-wrap:wrap}</style></head>
<body><main>${body}</main></body></html>`,
    {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": csp,
      "x-frame-options": "DENY",
      "referrer-policy": "no-referrer",
    },
  );
}

function redirectWith(res, redirectUri, params) {
  const url = new URL(redirectUri);
  for (const [name, value] of Object.entries(params)) if (value !== undefined && value !== null) url.searchParams.set(name, value);
  send(res, 303, "", { location: url.href });
}

/** Validates an authorization request (GET query or POSTed form). Errors before a trusted redirect URI are shown, not redirected (RFC 6749 §4.1.2.1). */
function checkAuthorization(params, issuer) {
  const redirectUri = params.get("redirect_uri") ?? "";
  if (params.get("client_id") !== clientId)
    return { fatal: `Unknown client_id ${JSON.stringify(params.get("client_id"))}: this dev identity provider serves ${clientId}.` };
  if (!validRedirectUri(redirectUri)) {
    return {
      fatal: `redirect_uri must be the console's callback on a loopback address (http://localhost:&lt;port&gt;${CALLBACK_PATH}); got ${escapeHtml(JSON.stringify(redirectUri))}. Open the console at http://localhost:3000/console.`,
    };
  }
  const fail = (error, description) => ({
    redirectUri,
    error: { error, error_description: description, state: params.get("state"), iss: issuer },
  });
  if (params.get("response_type") !== "code") return fail("unsupported_response_type", "response_type must be code");
  if (!/^[A-Za-z0-9_-]{43}$/.test(params.get("code_challenge") ?? ""))
    return fail("invalid_request", "code_challenge (PKCE, S256) is required");
  if (params.get("code_challenge_method") !== "S256") return fail("invalid_request", "code_challenge_method must be S256");
  if (!(params.get("scope") ?? "").split(" ").includes("openid")) return fail("invalid_scope", "scope must include openid");
  return { redirectUri };
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > FORM_MAX_BYTES) throw new Error("form too large");
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

function s256(verifier) {
  return createHash("sha256").update(verifier).digest("base64url");
}

async function token(params, issuer) {
  if (params.get("grant_type") !== "authorization_code")
    return [400, { error: "unsupported_grant_type", error_description: "grant_type must be authorization_code" }];
  const grant = codes.get(params.get("code") ?? "");
  codes.delete(params.get("code") ?? "");
  const now = Math.floor(Date.now() / 1000);
  if (!grant || grant.expiresAt < now)
    return [400, { error: "invalid_grant", error_description: "The authorization code is unknown, used or expired" }];
  if (params.get("client_id") !== grant.clientId)
    return [400, { error: "invalid_grant", error_description: "The code was issued to another client" }];
  if (params.get("redirect_uri") !== grant.redirectUri)
    return [400, { error: "invalid_grant", error_description: "redirect_uri differs from the authorization request's" }];
  const verifier = params.get("code_verifier") ?? "";
  if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(verifier) || s256(verifier) !== grant.codeChallenge) {
    return [400, { error: "invalid_grant", error_description: "code_verifier does not match the code_challenge (PKCE)" }];
  }
  const accessToken = await mintDevAccessToken({
    jwk,
    sub: user.sub,
    tenants: user.tenants,
    roles: grant.role ? [grant.role] : undefined,
  });
  const idToken = await new SignJWT({ nonce: grant.nonce ?? undefined })
    .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: jwk.kid })
    .setIssuer(issuer)
    .setSubject(user.sub)
    .setAudience(grant.clientId)
    .setIssuedAt(now)
    .setExpirationTime(now + ID_TOKEN_TTL_SECONDS)
    .sign(signingKey);
  const exp = JSON.parse(Buffer.from(accessToken.split(".")[1], "base64url").toString("utf8")).exp;
  return [200, { access_token: accessToken, token_type: "Bearer", expires_in: exp - now, id_token: idToken, scope: grant.scope }];
}

const server = createServer(async (req, res) => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const url = new URL(req.url ?? "/", issuer);
  try {
    if (req.method === "OPTIONS") {
      return send(res, 204, "", {
        "access-control-allow-origin": "*",
        "access-control-allow-methods": "GET, POST",
        "access-control-allow-headers": "content-type, accept",
      });
    }
    if (url.pathname === "/.well-known/openid-configuration" && req.method === "GET") {
      return json(res, 200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ["code"],
        grant_types_supported: ["authorization_code"],
        code_challenge_methods_supported: ["S256"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: ["RS256"],
        token_endpoint_auth_methods_supported: ["none"],
        scopes_supported: ["openid"],
        authorization_response_iss_parameter_supported: true,
      });
    }
    if (url.pathname === "/jwks" && req.method === "GET") return json(res, 200, { keys: [publicJwk(jwk)] });

    if (url.pathname === "/authorize" && (req.method === "GET" || req.method === "POST")) {
      const params = req.method === "GET" ? url.searchParams : await readForm(req);
      const checked = checkAuthorization(params, issuer);
      if (checked.fatal) return page(res, 400, "Sign-in refused", `<h1>Sign-in refused</h1><p>${checked.fatal}</p>`);
      if (checked.error) return redirectWith(res, checked.redirectUri, checked.error);
      const state = params.get("state");
      if (req.method === "POST") {
        const decision = params.get("decision") ?? "";
        // "approve-as-viewer" and the like: one of the role buttons; plain "approve" sends no roles claim.
        const role = ROLE_CHOICES.find((r) => decision === `approve-as-${r}`) ?? null;
        if (decision !== "approve" && role === null) {
          return redirectWith(res, checked.redirectUri, {
            error: "access_denied",
            error_description: "You cancelled the sign-in",
            state,
            iss: issuer,
          });
        }
        const code = randomBytes(32).toString("base64url");
        codes.set(code, {
          clientId,
          redirectUri: checked.redirectUri,
          codeChallenge: params.get("code_challenge"),
          nonce: params.get("nonce"),
          scope: params.get("scope"),
          role,
          expiresAt: Math.floor(Date.now() / 1000) + CODE_TTL_SECONDS,
        });
        return redirectWith(res, checked.redirectUri, { code, state, iss: issuer });
      }
      const hidden = ["response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge", "code_challenge_method"]
        .map((name) => `<input type="hidden" name="${name}" value="${escapeHtml(params.get(name) ?? "")}">`)
        .join("");
      return page(
        res,
        200,
        "keygate dev sign-in",
        `<h1>keygate dev sign-in</h1>
<p>This is <code>npm run dev</code>'s identity provider. It signs you in as a dev user without a password.</p>
<form method="post" action="/authorize">${hidden}
<button type="submit" name="decision" value="approve" autofocus>Sign in as ${escapeHtml(user.sub)} (tenants: ${escapeHtml(user.tenants.join(", "))})</button>
<button type="submit" name="decision" value="deny" class="secondary">Cancel</button>
<p class="note">Or sign in with a role (the token's roles claim lists it; the first button sends none, which keygate reads as admin):</p>
${ROLE_CHOICES.map((r) => `<button type="submit" name="decision" value="approve-as-${r}" class="secondary">With the ${r} role</button>`).join("\n")}
</form>
<p class="note">In a deployment the console signs in at your organization's identity provider instead (docs/console.md).</p>`,
        new URL(checked.redirectUri).origin,
      );
    }

    if (url.pathname === "/token" && req.method === "POST") {
      const [status, body] = await token(await readForm(req), issuer);
      return json(res, status, body);
    }
    return json(res, 404, { error: "not_found", error_description: `No ${req.method} ${url.pathname} here` });
  } catch (err) {
    console.error("dev identity provider:", err);
    return json(res, 500, { error: "server_error", error_description: "The dev identity provider failed; see its log" });
  }
});

server.listen(Number(values.port), "127.0.0.1", () => {
  console.error(`keygate: dev identity provider for the console at http://127.0.0.1:${server.address().port} (signs in ${user.sub})`);
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.close(() => process.exit(0)));
