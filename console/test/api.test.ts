/** The API client against a real HTTP server: bearer, query, JSON bodies, and how failures read. */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient, ApiError, errorFromResponse, parseJson, tenantPath } from "../src/lib/api";

let server: Server;
let base: string;
const seen: { method?: string; url?: string; auth?: string; body?: string; cookie?: string }[] = [];

beforeAll(async () => {
  server = createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, body, cookie: req.headers.cookie });
    const path = req.url?.split("?")[0];
    if (path === "/ok") {
      res.writeHead(200, { "content-type": "application/json", "x-next-cursor": "c2" });
      return res.end('[{"id":1}]');
    }
    if (path === "/legacy") {
      // A row stored before control characters were refused: ESC, BEL and a C1 CSI.
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify([{ name: "\u001b]0;owned\u0007x\u009b2J", metadata: { "k\u001b": "v" } }]));
    }
    if (path === "/denied") {
      res.writeHead(403, { "content-type": "application/json" });
      return res.end('{"error":"access_denied","error_description":"This credential may not manage API keys of this tenant"}');
    }
    if (path === "/expired") {
      res.writeHead(401, { "content-type": "application/json" });
      return res.end('{"error":"invalid_token","error_description":"Access token has expired"}');
    }
    res.writeHead(502, { "content-type": "text/html" });
    return res.end("<html>bad gateway</html>");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("API client", () => {
  it("escapes control characters in every string and field name it reads", async () => {
    const api = new ApiClient({ token: () => "tok", base });
    const page = await api.page<{ name: string }>("/legacy");
    expect(page.items).toEqual([{ name: "\\u001b]0;owned\\u0007x\\u009b2J", metadata: { "k\\u001b": "v" } }]);
    expect(await api.json("GET", "/legacy")).toEqual(page.items);
  });

  it("escapes bidi formatting characters, which would reorder a table row", () => {
    const spoof = "invoice\u202Egpj.exe \u2066a\u2069 \u200E\u200F\u061C \u202A\u202B\u202C\u202D \u2067\u2068";
    expect(parseJson(JSON.stringify({ "n\u202E": spoof }))).toEqual({
      "n\\u202e": "invoice\\u202egpj.exe \\u2066a\\u2069 \\u200e\\u200f\\u061c \\u202a\\u202b\\u202c\\u202d \\u2067\\u2068",
    });
    // Other text of right-to-left scripts, and joiners, are left as they are.
    expect(parseJson('"\u05e9\u05dc\u05d5\u05dd \u200d \u200b"')).toBe("\u05e9\u05dc\u05d5\u05dd \u200d \u200b");
  });

  it("sends the bearer and JSON body, skips empty query values, and reads the next cursor", async () => {
    const api = new ApiClient({ token: () => "tok-1", base });
    const page = await api.page<{ id: number }>("/ok", { limit: 5, cursor: null, status: "" });
    expect(page).toEqual({ items: [{ id: 1 }], nextCursor: "c2" });
    await api.send("POST", "/ok", { body: { name: "x" } });
    expect(seen.at(-2)).toMatchObject({ method: "GET", url: "/ok?limit=5", auth: "Bearer tok-1" });
    expect(seen.at(-1)).toMatchObject({ method: "POST", body: '{"name":"x"}' });
  });

  it("turns an API error body into its status, code and description", async () => {
    const api = new ApiClient({ token: () => "tok", base });
    await expect(api.json("GET", "/denied")).rejects.toMatchObject({
      status: 403,
      code: "access_denied",
      description: "This credential may not manage API keys of this tenant",
    });
    await expect(api.json("GET", "/expired")).rejects.toMatchObject({
      status: 401,
      code: "invalid_token",
      description: "Access token has expired",
    });
  });

  it("describes a non-JSON failure and an unreachable server without inventing an API error", async () => {
    const api = new ApiClient({ token: () => null, base });
    await expect(api.json("GET", "/html")).rejects.toMatchObject({ status: 502, code: "http_502" });
    const down = new ApiClient({ token: () => null, base: "http://127.0.0.1:1" });
    await expect(down.json("GET", "/x")).rejects.toMatchObject({ status: 0, code: "network_error" });
  });

  it("maps bodies with an error but no description", async () => {
    const err = await errorFromResponse(new Response('{"error":"conflict"}', { status: 409 }));
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: "conflict", description: "conflict" });
  });

  it("encodes tenant and key ids into the path", () => {
    expect(tenantPath("a b", "api-keys", "../x", "revoke")).toBe("/api/v1/tenant/a%20b/api-keys/..%2Fx/revoke");
  });
});
