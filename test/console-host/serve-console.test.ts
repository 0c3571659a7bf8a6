/**
 * The console as the worker serves it: static files through the ASSETS binding under /console
 * only, the app's HTML for its own routes, /console/config.json from the identity provider's
 * discovery document, and the security headers on every response.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { consoleCsp, isConsolePath } from "../../src/console-host/serve";
import { call } from "../helpers/worker";

const STRICT_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function expectSecurityHeaders(res: Response, csp = STRICT_CSP) {
  expect(res.headers.get("content-security-policy")).toBe(csp);
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  expect(res.headers.get("referrer-policy")).toBe("no-referrer");
  expect(res.headers.get("x-frame-options")).toBe("DENY");
  expect(res.headers.get("cross-origin-opener-policy")).toBe("same-origin");
}

/** A stand-in identity provider's discovery document on the test origin; returns its issuer. */
async function publishDiscovery(overrides: Record<string, unknown> = {}): Promise<string> {
  const issuer = `${env.ORIGIN_URL}/__jwks/idp-${crypto.randomUUID()}`;
  const doc = {
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: "http://127.0.0.1:9/oauth/token",
    jwks_uri: `${issuer}/jwks`,
    code_challenge_methods_supported: ["S256"],
    ...overrides,
  };
  await fetch(`${issuer}/.well-known/openid-configuration`, { method: "PUT", body: JSON.stringify(doc) });
  return issuer;
}

describe("console paths", () => {
  it("are /console and below only", () => {
    for (const path of ["/console", "/console/", "/console/assets/x.js", "/console/t/a/keys"]) expect(isConsolePath(path)).toBe(true);
    for (const path of ["/consoles", "/console.json", "/api/console", "/Console/", "/"]) expect(isConsolePath(path)).toBe(false);
  });

  it("everything else still goes to the gateway", async () => {
    const res = await call("GET", "/consoles");
    expect(res.status).toBe(401);
    expect(res.headers.get("content-security-policy")).toBeNull();
  });
});

describe("the console's files", () => {
  it("/console redirects to /console/", async () => {
    const res = await call("GET", "/console");
    expect(res.status).toBe(308);
    expect(res.headers.get("location")).toBe("/console/");
    expectSecurityHeaders(res);
  });

  it("serves the app's HTML for its routes, never cached, and its hashed bundle as immutable", async () => {
    const home = await call("GET", "/console/");
    expect(home.status).toBe(200);
    expect(home.headers.get("content-type")).toMatch(/^text\/html/);
    expect(home.headers.get("cache-control")).toBe("no-cache");
    expectSecurityHeaders(home);
    const html = await home.text();
    // No inline script: the CSP's script-src 'self' would block it.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    const script = /<script[^>]+src="(\/console\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();

    const route = await call("GET", "/console/t/my-tenant/keys/key-123");
    expect(route.status).toBe(200);
    expect(await route.text()).toBe(html);

    const js = await call("GET", script!);
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toMatch(/javascript/);
    expect(js.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expectSecurityHeaders(js);
  });

  it("a missing file is a 404 error body, not the app", async () => {
    const res = await call("GET", "/console/assets/missing.js");
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "not_found", error_description: "No such console file" });
    expectSecurityHeaders(res);
  });

  it("only GET and HEAD", async () => {
    const res = await call("POST", "/console/", { body: {} });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, HEAD");
    expectSecurityHeaders(res);
    const head = await call("HEAD", "/console/t/a/keys");
    expect(head.status).toBe(200);
    expectSecurityHeaders(head);
  });
});

describe("the API reference at /api/v1/docs", () => {
  it("is a page of the console's build, under the console's CSP, its files from /console/assets/", async () => {
    const res = await call("GET", "/api/v1/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expect(res.headers.get("cache-control")).toBe("no-cache");
    expectSecurityHeaders(res);
    const html = await res.text();
    expect(html).toContain("<title>keygate API reference</title>");
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>|<style|\sstyle=/);
    const files = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(files.filter((f) => f.startsWith("/console/assets/"))).toHaveLength(2);
    for (const file of files.filter((f) => f.startsWith("/console/assets/"))) {
      const asset = await call("GET", file);
      expect(asset.status, file).toBe(200);
      expectSecurityHeaders(asset);
      // The stylesheet's images are files too: img-src is 'self' only.
      if (file.endsWith(".css")) expect(await asset.text()).not.toContain("data:");
    }
    const slash = await call("GET", "/api/v1/docs/");
    expect(slash.status).toBe(200);
  });

  it("answers other methods with 405, as every route of the table", async () => {
    const res = await call("POST", "/api/v1/docs", { body: {} });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET");
  });
});

describe("/console/config.json", () => {
  it("says sign-in is not configured when CONSOLE_OIDC_ISSUER is not set", async () => {
    const res = await call("GET", "/console/config.json", { env: { CONSOLE_OIDC_ISSUER: undefined } });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      error: "not_found",
      error_description: "The console's sign-in is not configured: set CONSOLE_OIDC_ISSUER and CONSOLE_OIDC_CLIENT_ID",
    });
    expectSecurityHeaders(res);
  });

  it("gives the browser the identity provider's endpoints, and the page may connect to its token endpoint only", async () => {
    const issuer = await publishDiscovery();
    const vars = {
      CONSOLE_OIDC_ISSUER: issuer,
      CONSOLE_OIDC_CLIENT_ID: "console-client",
      CONSOLE_OIDC_SCOPE: "openid  profile",
      CONSOLE_OIDC_RESOURCE: "https://keygate.example/",
      CONSOLE_OIDC_AUTH_PARAMS: "audience=keygate&prompt=login",
      USER_TOKEN_TENANTS_CLAIM: "org_tenants",
    };
    const res = await call("GET", "/console/config.json", { env: vars });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.json()).toEqual({
      issuer,
      client_id: "console-client",
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: "http://127.0.0.1:9/oauth/token",
      scope: "openid profile",
      resource: "https://keygate.example/",
      auth_params: { audience: "keygate", prompt: "login" },
      tenants_claim: "org_tenants",
      roles_claim: "keygate_roles",
      default_role: "admin",
    });
    const page = await call("GET", "/console/", { env: vars });
    expectSecurityHeaders(page, consoleCsp("http://127.0.0.1:9"));
    expect(page.headers.get("content-security-policy")).toContain("connect-src 'self' http://127.0.0.1:9;");
  });

  it("refuses a discovery document that names another issuer (no identity-provider mix-up)", async () => {
    const issuer = await publishDiscovery({ issuer: "https://evil.example" });
    const res = await call("GET", "/console/config.json", { env: { CONSOLE_OIDC_ISSUER: issuer, CONSOLE_OIDC_CLIENT_ID: "c" } });
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: "server_error", error_description: "keygate is misconfigured; see the worker logs" });
    // The page itself still loads (and shows that error), connecting to nothing but keygate.
    expectSecurityHeaders(await call("GET", "/console/", { env: { CONSOLE_OIDC_ISSUER: issuer, CONSOLE_OIDC_CLIENT_ID: "c" } }));
  });

  it("refuses an identity provider without PKCE S256, or with plain-http endpoints off loopback", async () => {
    for (const overrides of [{ code_challenge_methods_supported: ["plain"] }, { token_endpoint: "http://idp.example/token" }]) {
      const issuer = await publishDiscovery(overrides);
      const res = await call("GET", "/console/config.json", { env: { CONSOLE_OIDC_ISSUER: issuer, CONSOLE_OIDC_CLIENT_ID: "c" } });
      expect(res.status).toBe(500);
    }
  });

  it("an unreachable identity provider is a 503 the console shows", async () => {
    const issuer = `${env.ORIGIN_URL}/__jwks/missing-${crypto.randomUUID()}`;
    const res = await call("GET", "/console/config.json", { env: { CONSOLE_OIDC_ISSUER: issuer, CONSOLE_OIDC_CLIENT_ID: "c" } });
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      error: "temporarily_unavailable",
      error_description: "The console's identity provider could not be reached; try again shortly",
    });
  });

  it("bad settings are configuration errors", async () => {
    const issuer = await publishDiscovery();
    for (const vars of [
      { CONSOLE_OIDC_ISSUER: "http://idp.example" },
      { CONSOLE_OIDC_ISSUER: "not a url" },
      { CONSOLE_OIDC_ISSUER: issuer, CONSOLE_OIDC_CLIENT_ID: "" },
      { CONSOLE_OIDC_ISSUER: issuer, CONSOLE_OIDC_CLIENT_ID: "c", CONSOLE_OIDC_SCOPE: "profile email" },
      { CONSOLE_OIDC_ISSUER: issuer, CONSOLE_OIDC_CLIENT_ID: "c", CONSOLE_OIDC_RESOURCE: "keygate" },
      { CONSOLE_OIDC_ISSUER: issuer, CONSOLE_OIDC_CLIENT_ID: "c", CONSOLE_OIDC_AUTH_PARAMS: "state=fixed" },
    ]) {
      const res = await call("GET", "/console/config.json", { env: vars });
      expect(res.status, JSON.stringify(vars)).toBe(500);
    }
  });
});
