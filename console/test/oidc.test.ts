/**
 * The console's sign-in against a real OpenID provider process (scripts/dev-idp.mjs, the one
 * `npm run dev` runs): authorization URL, state, PKCE, code exchange, ID-token nonce, and the
 * refusals a tampered or replayed callback gets.
 */
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { base64urlEncode } from "../src/lib/base64url";
import { beginSignIn, CALLBACK_PATH, type ConsoleConfig, checkIdToken, completeSignIn, SignInError, safeReturnPath } from "../src/lib/oidc";
import { SIGN_IN_KEY } from "../src/lib/session";
import { type DevIdp, MemoryStore, startDevIdp } from "./helpers";

const CONSOLE_ORIGIN = "http://localhost:3000";
let idp: DevIdp;
let config: ConsoleConfig;
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  idp = await startDevIdp({ sub: "alice", tenants: ["t-one", "t-two"] });
  const discovery = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as Record<string, string>;
  config = {
    issuer: idp.issuer,
    client_id: idp.clientId,
    authorization_endpoint: discovery.authorization_endpoint!,
    token_endpoint: discovery.token_endpoint!,
    scope: "openid",
    resource: null,
    auth_params: {},
    tenants_claim: "tenants",
  };
});
afterAll(() => idp?.stop());

/** What a person clicking "Sign in as ..." (or "Cancel") on the dev IdP's page leads to: the callback URL. */
async function approve(authorizationUrl: string, decision: "approve" | "deny" = "approve"): Promise<string> {
  const page = await fetch(authorizationUrl);
  expect(page.status).toBe(200);
  const html = await page.text();
  const form = new URLSearchParams();
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g))
    form.set(
      m[1]!,
      m[2]!.replace(/&#(\d+);/g, (_, c) => String.fromCharCode(Number(c))),
    );
  form.set("decision", decision);
  const res = await fetch(`${idp.issuer}/authorize`, { method: "POST", body: form, redirect: "manual" });
  expect(res.status).toBe(303);
  return res.headers.get("location")!;
}

describe("sign-in with PKCE", () => {
  it("builds an authorization request with S256, state, nonce and the callback on this origin", async () => {
    const store = new MemoryStore();
    const url = new URL(
      await beginSignIn(
        { ...config, resource: "https://keygate.example", auth_params: { audience: "kg" } },
        store,
        CONSOLE_ORIGIN,
        "/console/t/a/keys",
        now(),
      ),
    );
    const tx = JSON.parse(store.getItem(SIGN_IN_KEY)!);
    expect(url.origin + url.pathname).toBe(config.authorization_endpoint);
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      response_type: "code",
      client_id: idp.clientId,
      redirect_uri: `${CONSOLE_ORIGIN}${CALLBACK_PATH}`,
      scope: "openid",
      state: tx.state,
      nonce: tx.nonce,
      code_challenge_method: "S256",
      resource: "https://keygate.example",
      audience: "kg",
    });
    // The verifier itself never appears in the URL, only its hash.
    expect(url.href).not.toContain(tx.verifier);
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(tx.verifier));
    expect(url.searchParams.get("code_challenge")).toBe(base64urlEncode(new Uint8Array(digest)));
    expect(tx.returnTo).toBe("/console/t/a/keys");
  });

  it("signs in: code exchanged with the verifier, ID token checked, session from the access token", async () => {
    const store = new MemoryStore();
    const callback = await approve(await beginSignIn(config, store, CONSOLE_ORIGIN, "/console/t/t-two/keys", now()));
    expect(callback.startsWith(`${CONSOLE_ORIGIN}${CALLBACK_PATH}?`)).toBe(true);
    const { session, returnTo } = await completeSignIn(config, store, callback, now());
    expect(session.subject).toBe("alice");
    expect(session.tenants).toEqual(["t-one", "t-two"]);
    expect(session.expiresAt).toBeGreaterThan(now() + 3600);
    expect(session.accessToken.split(".")).toHaveLength(3);
    expect(returnTo).toBe("/console/t/t-two/keys");
    // The transaction is gone: the same callback cannot be completed twice.
    expect(store.getItem(SIGN_IN_KEY)).toBeNull();
    await expect(completeSignIn(config, store, callback, now())).rejects.toMatchObject({ code: "no_sign_in" });
  });

  it("refuses a callback whose state is not this tab's, and consumes the sign-in", async () => {
    const store = new MemoryStore();
    const callback = new URL(await approve(await beginSignIn(config, store, CONSOLE_ORIGIN, "/console/", now())));
    callback.searchParams.set("state", "forged");
    await expect(completeSignIn(config, store, callback.href, now())).rejects.toMatchObject({ code: "invalid_state" });
    expect(store.getItem(SIGN_IN_KEY)).toBeNull();
  });

  it("the identity provider refuses the code without the right PKCE verifier, and the console shows its description", async () => {
    const store = new MemoryStore();
    const callback = await approve(await beginSignIn(config, store, CONSOLE_ORIGIN, "/console/", now()));
    const tx = JSON.parse(store.getItem(SIGN_IN_KEY)!);
    store.setItem(SIGN_IN_KEY, JSON.stringify({ ...tx, verifier: "x".repeat(43) }));
    const err = await completeSignIn(config, store, callback, now()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SignInError);
    expect(err).toMatchObject({ code: "invalid_grant", message: "code_verifier does not match the code_challenge (PKCE)" });
  });

  it("a cancelled sign-in reports the identity provider's error", async () => {
    const store = new MemoryStore();
    const callback = await approve(await beginSignIn(config, store, CONSOLE_ORIGIN, "/console/", now()), "deny");
    await expect(completeSignIn(config, store, callback, now())).rejects.toMatchObject({
      code: "access_denied",
      message: "You cancelled the sign-in",
    });
  });

  it("refuses a response that names another issuer (RFC 9207 iss)", async () => {
    const store = new MemoryStore();
    const callback = new URL(await approve(await beginSignIn(config, store, CONSOLE_ORIGIN, "/console/", now())));
    callback.searchParams.set("iss", "https://evil.example");
    await expect(completeSignIn(config, store, callback.href, now())).rejects.toMatchObject({ code: "invalid_issuer" });
  });

  it("refuses a sign-in older than ten minutes", async () => {
    const store = new MemoryStore();
    const callback = await approve(await beginSignIn(config, store, CONSOLE_ORIGIN, "/console/", now() - 601));
    await expect(completeSignIn(config, store, callback, now())).rejects.toMatchObject({ code: "expired" });
  });
});

describe("ID token checks", () => {
  const key = new TextEncoder().encode("k".repeat(32));
  async function idToken(claims: Record<string, unknown>) {
    return new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(key);
  }
  const base = () => ({ iss: config.issuer, aud: config.client_id, nonce: "n-1", exp: now() + 600 });

  it("accepts this sign-in's token and refuses another issuer, client, nonce or an expired one", async () => {
    expect(() => checkIdToken("x.y", config, "n-1", now())).toThrow(/malformed/);
    checkIdToken(await idToken(base()), config, "n-1", now());
    checkIdToken(await idToken({ ...base(), aud: [config.client_id, "other"], azp: config.client_id }), config, "n-1", now());
    await expect(idToken({ ...base(), iss: "https://other" }).then((t) => checkIdToken(t, config, "n-1", now()))).rejects.toThrow(
      /\(iss\)/,
    );
    await expect(idToken({ ...base(), aud: "other" }).then((t) => checkIdToken(t, config, "n-1", now()))).rejects.toThrow(/\(aud\)/);
    await expect(
      idToken({ ...base(), aud: [config.client_id, "x"], azp: "x" }).then((t) => checkIdToken(t, config, "n-1", now())),
    ).rejects.toThrow(/\(azp\)/);
    await expect(idToken(base()).then((t) => checkIdToken(t, config, "n-2", now()))).rejects.toThrow(/\(nonce\)/);
    await expect(idToken({ ...base(), exp: now() - 600 }).then((t) => checkIdToken(t, config, "n-1", now()))).rejects.toThrow(/expired/);
  });
});

describe("return paths", () => {
  it("returns only to console pages", () => {
    expect(safeReturnPath("/console/t/a/keys?x=1")).toBe("/console/t/a/keys?x=1");
    for (const bad of [
      "https://evil.example/console/",
      "//evil.example/console/",
      "/other",
      "/console/callback?code=1",
      "/console/\\evil",
      null,
    ]) {
      expect(safeReturnPath(bad)).toBe("/console/");
    }
  });
});
