/**
 * The path contract proven against real origin frameworks, not only listed cases (DESIGN.md,
 * invariant 9). The real dev server (wrangler dev, as `npm run dev` runs it), once with
 * PATH_NORMALIZATION = "reject" and once with "normalize", forwards to a fan-out origin that
 * replays each request byte for byte (method, raw path, headers) to an Express 5 app
 * (method-override on) and a Flask/Werkzeug app, both routing like wrangler.toml's default
 * ROUTE_POLICY. fast-check generates paths from encodings (%2F %2f %5C %2E %252F), dots, slashes,
 * case, ';', unicode, plus method overrides and spoofed identity headers, for keys of several scopes.
 *
 * Invariant: whenever keygate forwards a request, each framework either resolves no route (404,
 * 405, a redirect) or resolves the route of the very rule that admitted the request (keygate's own
 * judgment of the path the origin received), which the key satisfies, with the method that was
 * judged and no identity but the key's.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { judgePath, type PathMode } from "../../src/gateway/path-contract";
import { compilePolicy, matchPolicy, type Requirement, UNMATCHED_RULE } from "../../src/gateway/policy";
import { type Keygate, startKeygate } from "./harness";

const PYTHON = "/usr/bin/python3";
const ORIGINS = path.join(import.meta.dirname, "origins");
const RULES = JSON.parse(readFileSync(path.join(ORIGINS, "route-policy.json"), "utf8")) as unknown[];
const POLICY = compilePolicy(RULES);
const FIXED_SEED = 20261203;
/** Cases per seed and mode: 2 seeds x 2 modes x this. */
const CASES_PER_RUN = 600;
const CONCURRENCY = 32;
/** Two dev servers and 1,200 cases each; on two cores shared with other work this is slow. */
const CASES_TIMEOUT_MS = 150_000;
const TENANT = "acme";

const skip = process.env.KEYGATE_SKIP_PYTHON === "1";

// --- the origins -------------------------------------------------------------------------------

interface Child {
  port: number;
  process: ChildProcess;
}

/** Starts an origin that prints its port as its first line. */
function startChild(command: string, args: string[]): Promise<Child> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stderr?.on("data", (d) => {
      err += d;
    });
    child.stdout?.on("data", (d) => {
      out += d;
      const line = out.split("\n")[0];
      if (out.includes("\n") && line) resolve({ port: Number(line), process: child });
    });
    child.once("exit", (code) => reject(new Error(`${command} ${args.join(" ")} exited ${code}: ${err}`)));
  });
}

async function stopChild(child: Child | undefined) {
  if (!child || child.process.exitCode !== null) return;
  const exited = new Promise((r) => child.process.once("exit", r));
  child.process.kill("SIGTERM");
  await exited;
}

/** What one framework did with a request. */
interface Resolution {
  status: number;
  /** The policy rule the route it ran mirrors; null when no handler ran (404, 405, redirect). */
  route: string | null;
  method: string | null;
  tenant: string | null;
}

interface FanOut {
  path: string;
  express: Resolution;
  flask: Resolution;
}

const originAgent = new http.Agent({ keepAlive: true, maxSockets: 32 });

function replay(port: number, req: http.IncomingMessage): Promise<Resolution> {
  const headers: [string, string][] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i] as string;
    // Host stays: Node's server refuses an HTTP/1.1 request without one (400), as it should.
    if (!/^(connection|content-length|transfer-encoding|keep-alive)$/i.test(name)) headers.push([name, req.rawHeaders[i + 1] as string]);
  }
  return new Promise((resolve, reject) => {
    const out = http.request(
      {
        host: "127.0.0.1",
        port,
        method: req.method,
        path: req.url,
        headers: headers.flat() as unknown as http.OutgoingHttpHeaders,
        agent: originAgent,
      },
      (res) => {
        res.resume();
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            route: (res.headers["x-route"] as string | undefined) ?? null,
            method: (res.headers["x-seen-method"] as string | undefined) ?? null,
            tenant: (res.headers["x-seen-tenant"] as string | undefined) ?? null,
          }),
        );
      },
    );
    out.on("error", reject);
    out.end();
  });
}

/** The origin keygate forwards to: replays each request to both frameworks, answers what they did in X-Fanout. */
function startFanOut(expressPort: number, flaskPort: number): Promise<http.Server> {
  const server = http.createServer(async (req, res) => {
    req.resume();
    try {
      const [express, flask] = await Promise.all([replay(expressPort, req), replay(flaskPort, req)]);
      const summary: FanOut = { path: req.url ?? "", express, flask };
      res.writeHead(200, { "x-fanout": Buffer.from(JSON.stringify(summary)).toString("base64url") });
      res.end();
    } catch (err) {
      res.writeHead(599);
      res.end(String(err));
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

// --- the cases ---------------------------------------------------------------------------------

const KEYS = ["none", "deploy:staging", "api:read", "api:write", "admin:read", "deploy:production"] as const;
type KeyName = (typeof KEYS)[number];
const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] as const;

const BASES = [
  "/",
  "/health",
  "/api/v1",
  "/api/v1/resources",
  "/api/v1/resources/42",
  "/api/v1/resources/a/b",
  "/api/v1/deploy",
  "/deploy",
  "/api/v1/admin",
  "/api/v1/admin/users/42",
];
/** Pieces an origin might read differently from keygate. */
const HOSTILE = [
  ...["", ".", "..", "%2e", "%2E", "%2e%2e", ".%2e", "%2E.", "..;", ";", ";x=1", ";/..", "/..", "/../health"],
  ...["%2F", "%2f", "%5C", "%5c", "\\", "..\\", "%252F", "%252f", "%252e%252e", "%2e%2e%2f", "..%2F", "..%2f"],
  ...["%2F..%2F..%2F..%2F..%2F..%2Fhealth", "%2F..%2F..%2F..%2Fadmin", "%5C..%5C..%5Chealth"],
  ...["%00", "%0a", "%09", "%7F", "%FF", "%25"],
];
/** Pieces that change nothing an origin should care about, or change the route honestly. */
const BENIGN = [
  ...["~", "%61", "%72", "%7E", "%2D", "%C3%A9", "%EF%BC%8F", "%E2%80%AE", "%20", "%3B", "%3b"],
  ...["health", "HEALTH", "admin", "Admin", "resources", "RESOURCES", "api", "API", "v1", "deploy", "users", "x", "42"],
];

type Mutation = ["insert" | "append" | "prepend" | "upper" | "encode", number, string];

/** Percent-encodes the character at `at` of `segment` (an unreserved one: a form RFC 3986 calls equivalent). */
function encodeOne(segment: string, at: number): string {
  if (segment === "") return segment;
  const i = at % segment.length;
  const hex = segment.charCodeAt(i).toString(16);
  return `${segment.slice(0, i)}%${at % 2 ? hex.toUpperCase() : hex}${segment.slice(i + 1)}`;
}

function buildPath(base: string, mutations: Mutation[], trailing: boolean): string {
  const segments = base.split("/").slice(1);
  for (const [kind, at, piece] of mutations) {
    const i = at % (segments.length + 1);
    const j = at % Math.max(segments.length, 1);
    const current = segments[j] ?? "";
    if (kind === "insert") segments.splice(i, 0, piece);
    else if (kind === "append") segments[j] = current + piece;
    else if (kind === "prepend") segments[j] = piece + current;
    else if (kind === "upper") segments[j] = at % 2 ? current.toUpperCase() : current.charAt(0).toUpperCase() + current.slice(1);
    else segments[j] = encodeOne(current, at);
  }
  return `/${segments.join("/")}${trailing ? "/" : ""}`.replace(/^\/\/$/, "/");
}

interface Case {
  method: string;
  path: string;
  key: KeyName;
  override?: [string, string];
  spoof?: [string, string];
}

/** `value` three times in four, else one of `other`. */
function usually<T, U>(value: T, other: fc.Arbitrary<U>): fc.Arbitrary<T | U> {
  return fc.oneof({ arbitrary: fc.constant(value), weight: 3 }, { arbitrary: other, weight: 1 });
}

function mutationWith(pieces: string[]): fc.Arbitrary<Mutation> {
  return fc.tuple(fc.constantFrom<Mutation[0]>("insert", "append", "prepend", "upper", "encode"), fc.nat(64), fc.constantFrom(...pieces));
}

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    // Most cases use the method the base path's route takes, so that requests reach a route.
    method: usually(undefined, fc.constantFrom(...METHODS)),
    base: fc.constantFrom(...BASES),
    // Some cases are the route paths themselves, or changed by benign pieces only, so that
    // many requests do reach a route on both sides.
    mutations: fc.oneof(
      { arbitrary: fc.constant([]), weight: 1 },
      { arbitrary: fc.array(mutationWith(BENIGN), { minLength: 1, maxLength: 2 }), weight: 1 },
      {
        arbitrary: fc.array(mutationWith([...HOSTILE, ...HOSTILE, ...BENIGN]), { minLength: 1, maxLength: 3 }),
        weight: 2,
      },
    ),
    trailing: fc.boolean(),
    // Most cases carry the key the clean route asks for, so that requests get past the scopes.
    key: usually(undefined, fc.constantFrom(...KEYS)),
    override: fc.option(
      fc.tuple(
        fc.constantFrom("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override", "X_HTTP_Method_Override"),
        fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE"),
      ),
      { nil: undefined, freq: 3 },
    ),
    spoof: fc.option(
      fc.constantFrom<[string, string]>(["X-Keygate_Tenant", "victim"], ["X-Keygate-Tenant", "victim"], ["x_keygate_tenant", "victim"]),
      { nil: undefined, freq: 3 },
    ),
  })
  .map(({ method, base, mutations, trailing, key, override, spoof }) => {
    const chosen = method ?? (base.endsWith("deploy") ? "POST" : "GET");
    return { method: chosen, path: buildPath(base, mutations as Mutation[], trailing), key: key ?? keyFor(chosen, base), override, spoof };
  });

/** The key a clean request to `base` needs: none for a public rule, the rule's first scope, or any valid key. */
function keyFor(method: string, base: string): KeyName {
  const requirement = matchPolicy(POLICY, method, base.split("/").filter(Boolean));
  if (requirement?.kind === "public") return "none";
  const scope = requirement?.kind === "scopes" ? requirement.scopes[0] : undefined;
  return KEYS.find((k) => k === scope) ?? "deploy:staging";
}

// --- the invariant ----------------------------------------------------------------------------

function requirementOf(rule: string): Requirement | undefined {
  return POLICY.rules.find((r) => r.requirement.rule === rule)?.requirement;
}

function keySatisfies(key: KeyName, requirement: Requirement): boolean {
  if (requirement.kind === "public") return true;
  if (key === "none") return false;
  return requirement.kind === "authenticated" || requirement.scopes.includes(key);
}

/** What is wrong with what keygate and the frameworks did with `c`, or null. */
function violation(c: Case, mode: PathMode, status: number, fanOut: FanOut | null): string | null {
  // A 503 (a dependency of the dev server busy) is no boundary question; a 500 is a bug (invariant 5).
  if (status === 500) return "keygate answered 500";
  if (fanOut === null) return null; // refused: never reached the origin
  const received = JSON.stringify(fanOut.path);
  const frameworks = Object.entries({ express: fanOut.express, flask: fanOut.flask });
  // First what needs no model of keygate: no framework runs a route the key could not reach by
  // a clean path, with another method, or with an identity that is not the key's.
  for (const [framework, r] of frameworks) {
    if (r.status >= 500) return `${framework} answered ${r.status}`;
    if (r.tenant !== null && (c.key === "none" || r.tenant !== TENANT)) return `${framework} saw tenant ${JSON.stringify(r.tenant)}`;
    if (r.route === null) continue;
    if (!keySatisfies(c.key, requirementOf(r.route) as Requirement))
      return `${framework} ran ${r.route} for key ${c.key} (received ${received})`;
    if (r.method !== c.method) return `${framework} ran ${r.method}, judged ${c.method}`;
  }
  // Then the contract itself: the rule that admitted the request is keygate's own judgment of the
  // path the origin received (judging the normalized form again does not change it), and a route
  // that ran is that rule's.
  const judged = judgePath(fanOut.path, mode);
  if (typeof judged === "string") return `forwarded ${received}, which the path contract refuses (${judged})`;
  const admitted = matchPolicy(POLICY, c.method, judged.segments)?.rule ?? UNMATCHED_RULE;
  const admittedRequirement = requirementOf(admitted) ?? { kind: "authenticated", rule: UNMATCHED_RULE };
  if (!keySatisfies(c.key, admittedRequirement)) return `admitted by ${admitted}, which key ${c.key} does not satisfy`;
  for (const [framework, r] of frameworks) {
    if (r.route !== null && r.route !== admitted) return `${framework} ran ${r.route}, admitted by ${admitted} (received ${received})`;
  }
  return null;
}

// --- running ------------------------------------------------------------------------------------

const clientAgent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function send(kg: Keygate, c: Case, tokens: Map<KeyName, string>): Promise<{ status: number; fanOut: FanOut | null }> {
  const url = new URL(kg.url);
  const headers: Record<string, string> = {};
  const token = tokens.get(c.key);
  if (token) headers.authorization = `Bearer ${token}`;
  if (c.override) headers[c.override[0]] = c.override[1];
  if (c.spoof) headers[c.spoof[0]] = c.spoof[1];
  return new Promise((resolve, reject) => {
    // node:http sends the path as given: no URL parser between the case and keygate.
    const req = http.request({ host: url.hostname, port: url.port, method: c.method, path: c.path, headers, agent: clientAgent }, (res) => {
      res.resume();
      res.on("end", () => {
        const raw = res.headers["x-fanout"] as string | undefined;
        resolve({ status: res.statusCode ?? 0, fanOut: raw ? (JSON.parse(Buffer.from(raw, "base64url").toString()) as FanOut) : null });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

interface RunResult {
  /** keygate's statuses, e.g. {"200": 310, "400": 190, "403": 80}. */
  statuses: Record<number, number>;
  forwarded: number;
  refused: number;
  /** Forwarded requests that ran a route in either framework, and in each. */
  routed: number;
  expressRouted: number;
  flaskRouted: number;
  failures: string[];
}

/** Issue #16's attacks, run first with the fixed seed's cases. */
const KNOWN_ATTACKS: Case[] = [
  { method: "GET", path: "/api/v1/admin/users/42%2F..%2F..%2F..%2F..%2F..%2Fhealth", key: "none" },
  { method: "DELETE", path: "/api/v1/resources/42%2F..%2F..%2F..%2F..%2Felsewhere", key: "api:read" },
  { method: "GET", path: "/API/v1/admin/users", key: "api:read" },
  { method: "GET", path: "//api/v1/admin/users", key: "deploy:staging" },
  { method: "POST", path: "/api/v1/admin/users", key: "admin:read", override: ["X-HTTP-Method-Override", "GET"] },
  { method: "GET", path: "/api/v1/resources/42", key: "api:read", spoof: ["X-Keygate_Tenant", "victim"] },
];

/** Kinds of violation, for the failure message. */
const KINDS: [string, RegExp][] = [
  ["a route the key cannot reach", / ran .* for key /],
  ["a spoofed identity", /saw tenant/],
  ["another method", /, judged /],
  ["a path the contract refuses", /contract refuses/],
  ["another rule's route", /admitted by/],
];

function tally(failures: string[]): string {
  return KINDS.map(([kind, re]) => `${failures.filter((f) => re.test(f)).length} ${kind}`).join(", ");
}

async function run(kg: Keygate, mode: PathMode, seed: number, tokens: Map<KeyName, string>): Promise<RunResult> {
  const cases = [...(seed === FIXED_SEED ? KNOWN_ATTACKS : []), ...fc.sample(caseArb, { seed, numRuns: CASES_PER_RUN })];
  const result: RunResult = { statuses: {}, forwarded: 0, refused: 0, routed: 0, expressRouted: 0, flaskRouted: 0, failures: [] };
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const c = cases[next++] as Case;
      const { status, fanOut } = await send(kg, c, tokens);
      result.statuses[status] = (result.statuses[status] ?? 0) + 1;
      if (fanOut) {
        result.forwarded++;
        if (fanOut.express.route !== null || fanOut.flask.route !== null) result.routed++;
        if (fanOut.express.route !== null) result.expressRouted++;
        if (fanOut.flask.route !== null) result.flaskRouted++;
      } else result.refused++;
      const problem = violation(c, mode, status, fanOut);
      if (problem) result.failures.push(`${c.method} ${c.path} key=${c.key}${c.override ? ` ${c.override.join(": ")}` : ""}: ${problem}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return result;
}

async function createKeys(kg: Keygate): Promise<Map<KeyName, string>> {
  const user = await kg.userToken([TENANT]);
  const tokens = new Map<KeyName, string>();
  for (const scope of KEYS) {
    if (scope === "none") continue;
    const res = await fetch(`${kg.url}/api/v1/tenant/${TENANT}/api-keys/create`, {
      method: "POST",
      headers: { authorization: `Bearer ${user}`, "content-type": "application/json" },
      body: JSON.stringify({ name: `differential ${scope}`, scopes: [scope], expires_in_days: 1 }),
    });
    expect(res.status, kg.logs()).toBe(201);
    tokens.set(scope, ((await res.json()) as { api_key: string }).api_key);
  }
  return tokens;
}

/** wrangler.toml's [[vars.ROUTE_POLICY]] tables, read line by line (their values are JSON-compatible TOML). */
function wranglerRoutePolicy(): unknown[] {
  const toml = readFileSync(path.join(import.meta.dirname, "..", "..", "wrangler.toml"), "utf8");
  return toml
    .split("[[vars.ROUTE_POLICY]]")
    .slice(1)
    .map((block) => {
      const rule: Record<string, unknown> = {};
      for (const line of block.split("\n")) {
        const m = /^(\w+)\s*=\s*(.+)$/.exec(line.trim());
        if (m) rule[m[1] as string] = JSON.parse(m[2] as string);
        else if (line.trim().startsWith("[")) break;
      }
      return rule;
    });
}

let expressOrigin: Child | undefined;
let flaskOrigin: Child | undefined;
let fanOut: http.Server | undefined;
const servers: Partial<Record<PathMode, Keygate>> = {};
const tokensOf: Partial<Record<PathMode, Map<KeyName, string>>> = {};

describe.skipIf(skip)("the path contract against Express and Flask (fast-check)", () => {
  beforeAll(async () => {
    [expressOrigin, flaskOrigin] = await Promise.all([
      startChild(process.execPath, [path.join(ORIGINS, "express-origin.mjs")]),
      startChild(PYTHON, [path.join(ORIGINS, "flask_origin.py")]),
    ]);
    fanOut = await startFanOut(expressOrigin.port, flaskOrigin.port);
    const originUrl = `http://127.0.0.1:${(fanOut.address() as AddressInfo).port}`;
    const [reject, normalize] = await Promise.all(
      (["reject", "normalize"] as const).map((mode) => startKeygate({ vars: { ORIGIN_URL: originUrl, PATH_NORMALIZATION: mode } })),
    );
    servers.reject = reject;
    servers.normalize = normalize;
    [tokensOf.reject, tokensOf.normalize] = await Promise.all([createKeys(reject as Keygate), createKeys(normalize as Keygate)]);
  }, 180_000);

  afterAll(async () => {
    await Promise.all([servers.reject?.stop(), servers.normalize?.stop()]);
    clientAgent.destroy();
    originAgent.destroy();
    await new Promise((r) => (fanOut ? fanOut.close(r) : r(undefined)));
    await Promise.all([stopChild(expressOrigin), stopChild(flaskOrigin)]);
  });

  it("the origins mirror wrangler.toml's default ROUTE_POLICY", () => {
    expect(RULES).toEqual(wranglerRoutePolicy());
  });

  for (const mode of ["reject", "normalize"] as const) {
    it(
      `PATH_NORMALIZATION = "${mode}": every forwarded request meets the route of the rule that admitted it, or none`,
      async () => {
        const randomSeed = Date.now() % 2 ** 31;
        for (const seed of [FIXED_SEED, randomSeed]) {
          const result = await run(servers[mode] as Keygate, mode, seed, tokensOf[mode] as Map<KeyName, string>);
          const summary = `seed ${seed}${seed === FIXED_SEED ? " (fixed)" : " (random)"}, ${mode}: ${CASES_PER_RUN} cases, ${result.forwarded} forwarded (${result.routed} ran a route: Express ${result.expressRouted}, Flask ${result.flaskRouted}), ${result.refused} refused; statuses ${JSON.stringify(result.statuses)}`;
          console.log(summary);
          expect(
            result.failures.slice(0, 20),
            `${summary}\n${result.failures.length} violations (${tally(result.failures)}); rerun with seed ${seed}`,
          ).toEqual([]);
          // The generator reaches both sides of the boundary, or it proves little.
          expect(Math.min(result.expressRouted, result.flaskRouted), summary).toBeGreaterThan(CASES_PER_RUN / 20);
          expect(result.refused, summary).toBeGreaterThan(CASES_PER_RUN / 10);
        }
      },
      CASES_TIMEOUT_MS,
    );
  }
});
