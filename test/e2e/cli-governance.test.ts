/**
 * The CLI's governance commands (issue 20), byte for byte: a small HTTP server stands where keygate
 * would, as in cli-requests.test.ts, and answers with the documented shapes. `keys scope-usage`,
 * `keys narrow` (its preview, --dry-run, and the refusal to narrow to nothing), `keys exempt`,
 * `scope-report` across pages, and `keys create --metadata --exempt-from-unused-policy`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { runCli, tempHome } from "./cli-helpers";

interface Seen {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
}
type Answer = { status?: number; body?: unknown; headers?: Record<string, string> };

let server: Server;
let url: string;
let seen: Seen[] = [];
let answers: Record<string, Answer | ((req: Seen) => Answer)> = {};
const home = tempHome();
const T = "/api/v1/tenant/t1";
const WINDOW = { days: 30, from: 1_764_547_200, to: 1_767_139_200 };
const KEY = {
  id: "key-1",
  name: "ci",
  api_key: "eyJhbGciOiJSUzI1NiJ9.eyJrZXlfaWQiOiJrZXktMiJ9.c2ln",
  scopes: ["api:read"],
  created_at: 1_767_225_600,
  expires_at: null,
  last_used: null,
  revoked: false,
};

beforeAll(async () => {
  server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const target = new URL(req.url ?? "/", "http://x");
    let text = "";
    for await (const chunk of req) text += chunk;
    const request: Seen = {
      method: req.method ?? "",
      path: target.pathname,
      query: Object.fromEntries(target.searchParams),
      body: text === "" ? undefined : JSON.parse(text),
    };
    seen.push(request);
    const entry = answers[`${request.method} ${request.path}`];
    const answer = typeof entry === "function" ? entry(request) : entry;
    res.writeHead(answer?.status ?? (answer ? 200 : 404), { "content-type": "application/json", ...answer?.headers });
    res.end(JSON.stringify(answer?.body ?? { error: "not_found", error_description: "Not found" }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  home.remove();
});

beforeEach(() => {
  seen = [];
  answers = {};
});

function cli(args: string[]) {
  return runCli(home.home, args, { env: { KEYGATE_URL: url, KEYGATE_TENANT: "t1", KEYGATE_TOKEN: "tok" } });
}

const USAGE = {
  key_id: "key-1",
  window: WINDOW,
  scopes: [
    { scope: "api:read", exercised: true, count: 3, last_exercised: 1_767_139_000 },
    { scope: "api:write", exercised: false, count: 0, last_exercised: null },
    { scope: "deploy:*", exercised: true, count: 1, last_exercised: 1_767_139_100, exercised_as: ["deploy:production"] },
  ],
  exercised_scopes: ["api:read", "deploy:production"],
};

describe("keygate governance commands", () => {
  it("keys scope-usage prints each scope and the window", async () => {
    answers[`GET ${T}/api-keys/key-1/scope-usage`] = { body: USAGE };
    const run = await cli(["keys", "scope-usage", "key-1", "--days", "30"]);
    expect(run.code).toBe(0);
    expect(seen[0]?.query).toEqual({ days: "30" });
    expect(run.stdout).toMatch(/SCOPE +EXERCISED +REQUESTS +LAST +AS\napi:read +yes +3 /);
    expect(run.stdout).toMatch(/deploy:\* +yes +1 +\S+ +deploy:production\n/);
    expect(run.stderr).toContain("window: the last 30 day(s)");
  });

  it("keys narrow --dry-run shows what changes and sends nothing else", async () => {
    answers[`GET ${T}/api-keys/key-1/scope-usage`] = { body: USAGE };
    const run = await cli(["keys", "narrow", "key-1", "--dry-run"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("scopes now:   api:read, api:write, deploy:*");
    expect(run.stdout).toContain("scopes after: api:read, deploy:production");
    expect(run.stdout).toContain("removed:      api:write, deploy:*");
    expect(seen.map((s) => s.method)).toEqual(["GET"]);
  });

  it("keys narrow posts the window and grace period and prints the replacement key", async () => {
    answers[`GET ${T}/api-keys/key-1/scope-usage`] = { body: USAGE };
    answers[`POST ${T}/api-keys/key-1/narrow`] = { status: 201, body: { ...KEY, scopes: USAGE.exercised_scopes, rotated_from: "key-1" } };
    const run = await cli(["keys", "narrow", "key-1", "--days", "60", "--grace-period", "1h"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${KEY.api_key}\n`);
    expect(seen[1]).toMatchObject({ method: "POST", path: `${T}/api-keys/key-1/narrow`, body: { days: 60, grace_period_seconds: 3600 } });
  });

  it("keys narrow refuses to narrow to nothing, before any change", async () => {
    answers[`GET ${T}/api-keys/key-1/scope-usage`] = { body: { ...USAGE, exercised_scopes: [] } };
    const run = await cli(["keys", "narrow", "key-1"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("nothing to narrow to");
    expect(seen.map((s) => s.method)).toEqual(["GET"]);
  });

  it("keys exempt sets and clears the exemption", async () => {
    answers[`PATCH ${T}/api-keys/key-1`] = { body: { ...KEY, exempt_from_unused_policy: true } };
    expect((await cli(["keys", "exempt", "key-1"])).stdout).toBe("key-1 is exempt from the unused-key policy\n");
    expect((await cli(["keys", "exempt", "key-1", "--off"])).stdout).toBe("key-1 is subject to the unused-key policy\n");
    expect(seen.map((s) => s.body)).toEqual([{ exempt_from_unused_policy: true }, { exempt_from_unused_policy: false }]);
  });

  it("scope-report follows every page and prints the findings with the window", async () => {
    const entry = (id: string, unused: boolean) => ({
      key_id: id,
      name: id,
      created_at: 1_767_000_000,
      last_used: null,
      unused,
      scopes: ["api:read", "api:write"],
      unexercised_scopes: ["api:write"],
      exercised_scopes: ["api:read"],
    });
    answers[`GET ${T}/scope-report`] = (req) =>
      req.query.cursor === undefined
        ? { body: { window: WINDOW, keys: [entry("key-a", true)] }, headers: { "x-next-cursor": "c2" } }
        : { body: { window: WINDOW, keys: [entry("key-b", false)] } };
    const run = await cli(["scope-report", "--days", "30"]);
    expect(run.code).toBe(0);
    expect(seen.map((s) => s.query)).toEqual([{ days: "30" }, { days: "30", cursor: "c2" }]);
    expect(run.stdout).toMatch(/key-a +key-a +yes +api:write +api:read/);
    expect(run.stdout).toMatch(/key-b +key-b +no +api:write +api:read/);
    expect(run.stderr).toContain("window: the last 30 day(s)");
  });

  it("keys create sends metadata and the exemption when given", async () => {
    answers[`POST ${T}/api-keys/create`] = { status: 201, body: KEY };
    await cli([
      "keys",
      "create",
      "--name",
      "ci",
      "--scope",
      "deploy:*",
      "--metadata",
      '{"team":"payments"}',
      "--exempt-from-unused-policy",
    ]);
    expect(seen[0]?.body).toStrictEqual({
      name: "ci",
      scopes: ["deploy:*"],
      metadata: { team: "payments" },
      exempt_from_unused_policy: true,
    });
  });
});
