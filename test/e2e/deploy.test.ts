/**
 * `npm run deploy` (scripts/deploy.mjs) short of the network.
 *
 * `--dry-run` runs for real: the config checks, the secrets it would create (generated and
 * validated), `wrangler deploy --dry-run`. A real run talks to Cloudflare, which tests cannot reach,
 * so those runs point KEYGATE_WRANGLER at a fake wrangler *executable* (written below): it records
 * each command with its stdin and answers `secret list` and `d1 list` from a state file, the way
 * wrangler 4.164 prints them. That fake is the only stand-in; what it checks is deploy.mjs's side:
 * which commands run, in which order, what reaches wrangler's stdin, and that a second run creates
 * nothing. The code checks (typecheck, lint) are skipped here (`--skip-code-checks`): they run before
 * every commit and in CI, and would double this file's time. Each run loads wrangler (seconds), hence
 * the timeouts.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { decodeProtectedHeader, importJWK, jwtVerify, SignJWT } from "jose";
import { afterAll, describe, expect, it } from "vitest";

const exec = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "..", "..");
const dir = mkdtempSync(path.join(tmpdir(), "keygate-deploy-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What a production deployment must set (wrangler.toml ships `npm run dev`'s values). */
const PRODUCTION = [
  "KEY_ISSUER:https://keygate.example.com",
  "ORIGIN_URL:https://api.example.com",
  "USER_TOKEN_ISSUER:https://idp.example.com/",
  "USER_TOKEN_JWKS_URL:https://idp.example.com/.well-known/jwks.json",
];
const varArgs = (vars: string[]) => vars.flatMap((v) => ["--var", v]);

const FAKE_WRANGLER = `
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
const args = process.argv.slice(2);
const statePath = process.env.FAKE_WRANGLER_STATE;
const state = JSON.parse(readFileSync(statePath, "utf8"));
const stdin = args[0] === "secret" && args[1] === "put" ? readFileSync(0, "utf8") : undefined;
appendFileSync(process.env.FAKE_WRANGLER_LOG, JSON.stringify({ args, stdin }) + "\\n");
const cmd = args.slice(0, 2).join(" ");
if (cmd === "secret list") {
  if (!state.worker) {
    process.stderr.write('X [ERROR] Worker "keygate" not found.\\n\\nIf this is a new Worker, run \`wrangler deploy\` first to create it.\\n');
    process.exit(1);
  }
  console.log(JSON.stringify(state.secrets.map((name) => ({ name, type: "secret_text" })), null, "  "));
} else if (cmd === "d1 list") {
  console.log(JSON.stringify(state.databases.map((name) => ({ uuid: "0000", name })), null, 2));
} else if (cmd === "secret put") {
  state.worker = true; // wrangler creates a draft worker to hold the secret
  state.secrets.push(args[2]);
} else if (args[0] === "deploy") {
  state.worker = true; // and provisions D1 "keygate" (with KV and the queues)
  if (!state.databases.includes("keygate")) state.databases.push("keygate");
}
writeFileSync(statePath, JSON.stringify(state));
`;

interface Call {
  args: string[];
  stdin?: string;
}

/** A Cloudflare account as the fake wrangler sees it, and the deploy runs against it. */
function account(initial: { worker: boolean; secrets: string[]; databases: string[] }) {
  const at = mkdtempSync(path.join(dir, "account-"));
  const paths = { wrangler: path.join(at, "wrangler.mjs"), state: path.join(at, "state.json"), log: path.join(at, "calls.jsonl") };
  writeFileSync(paths.wrangler, FAKE_WRANGLER);
  writeFileSync(paths.state, JSON.stringify(initial));
  writeFileSync(paths.log, "");
  return {
    /** Runs `npm run deploy` (real run) against this account; returns its output and the wrangler calls it made. */
    async deploy(vars: string[]) {
      const before = readFileSync(paths.log, "utf8").split("\n").filter(Boolean).length;
      const result = await run(["--skip-code-checks", ...varArgs(vars)], {
        KEYGATE_WRANGLER: paths.wrangler,
        FAKE_WRANGLER_STATE: paths.state,
        FAKE_WRANGLER_LOG: paths.log,
      });
      const calls = readFileSync(paths.log, "utf8")
        .split("\n")
        .filter(Boolean)
        .slice(before)
        .map((line) => JSON.parse(line) as Call);
      return { ...result, calls };
    },
  };
}

async function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [path.join(ROOT, "scripts", "deploy.mjs"), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const commands = (calls: Call[]) => calls.map((c) => c.args.filter((a) => a !== "--var" && !a.includes(":")).join(" "));

/** An RS256 API key signed with the set's first key, verified with its public half only (as an origin would). */
async function signsAndVerifies(set: { keys: Record<string, string>[] }) {
  const jwk = set.keys[0] as Record<string, string>;
  const token = await new SignJWT({ scopes: ["api:read"] })
    .setProtectedHeader({ alg: "RS256", kid: jwk.kid as string })
    .setIssuer("https://keygate.example.com")
    .setAudience("your-api")
    .sign(await importJWK(jwk, "RS256"));
  const publicKey = await importJWK({ kty: jwk.kty, n: jwk.n, e: jwk.e }, "RS256");
  const { payload } = await jwtVerify(token, publicKey, { issuer: "https://keygate.example.com", audience: "your-api" });
  return { kid: decodeProtectedHeader(token).kid, payload };
}

describe("npm run deploy --dry-run", () => {
  it("checks, prints the plan with secrets redacted, validates the secrets it would create and builds the bundle, with no account", async () => {
    const { code, stdout, stderr } = await run(["--dry-run", "--skip-code-checks", ...varArgs([...PRODUCTION, "IDENTITY_ASSERTION:jwt"])], {
      // No credentials: a dry run must not need them (and wrangler must not look for them).
      CLOUDFLARE_API_TOKEN: "",
      CLOUDFLARE_ACCOUNT_ID: "",
    });
    expect(stderr).not.toMatch(/deploy: /);
    expect(code).toBe(0);
    const plan = stdout.slice(stdout.indexOf("plan"), stdout.indexOf("wrangler deploy --dry-run"));
    expect(plan.match(/^ {2}\d+\. wrangler .*$/gm)?.map((l) => l.replace(/ --var \S+/g, "").replace(/kid \S+,/, "kid <kid>,"))).toEqual([
      "  1. wrangler secret list --format json",
      "  2. wrangler d1 list --json",
      "  3. wrangler d1 migrations apply DB --remote",
      "  4. wrangler secret put SIGNING_KEYS < [redacted: generated 1 RSA-2048 key, kid <kid>, RS256: an API key it signs verifies]",
      "  5. wrangler secret put IDENTITY_ASSERTION_KEYS < [redacted: generated 1 Ed25519 key, kid <kid>, EdDSA: an identity assertion it signs verifies]",
      "  6. wrangler deploy",
      "  7. wrangler d1 migrations apply DB --remote",
    ]);
    expect(plan).toContain("--var KEY_ISSUER:https://keygate.example.com");
    expect(plan).toContain('creates what the account lacks: D1 "keygate", KV for EDGE_RECORDS, queues keygate-usage, keygate-webhooks');
    // wrangler built the worker with every binding it will provision, and stopped there.
    expect(stdout).toMatch(/env\.DB \(keygate\)\s+D1 Database/);
    expect(stdout).toMatch(/env\.USAGE_QUEUE \(keygate-usage\)\s+Queue/);
    expect(stdout).toContain("--dry-run: exiting now.");
    expect(stdout).toContain("Nothing was created.");
    // Private key material never reaches the output.
    expect(stdout + stderr).not.toMatch(/"d"\s*:/);
  }, 120_000);

  it("refuses, naming each var, while wrangler.toml still has npm run dev's values; nothing runs", async () => {
    const fake = account({ worker: false, secrets: [], databases: [] });
    const { code, stderr, calls } = await fake.deploy([]);
    expect(code).toBe(1);
    expect(stderr).toContain("the deployment config is not ready; nothing was created");
    expect(stderr).toContain('KEY_ISSUER is "http://localhost:3000": set it to keygate\'s public https URL');
    expect(stderr).toContain('ORIGIN_URL is "http://127.0.0.1:8788", a loopback address a deployed worker cannot reach');
    expect(stderr).toContain('USER_TOKEN_ISSUER is "keygate-dev-idp"');
    expect(calls).toEqual([]);

    const dry = await run([
      "--dry-run",
      "--skip-code-checks",
      ...varArgs([...PRODUCTION.filter((v) => !v.startsWith("KEY_ISSUER")), "KEY_ISSUER:http://localhost:8787"]),
    ]);
    expect(dry.code).toBe(1);
    expect(dry.stderr).toContain('KEY_ISSUER is "http://localhost:8787"');
    expect(dry.stdout).not.toContain("plan");
  }, 120_000);
});

describe("npm run deploy (against a fake wrangler: the network is out of reach)", () => {
  it("a first deploy puts the secrets before the code, migrates after wrangler creates D1; a second run creates nothing", async () => {
    const fake = account({ worker: false, secrets: [], databases: [] });
    const first = await fake.deploy(PRODUCTION);
    expect(first.stderr).not.toMatch(/deploy: /);
    expect(first.code).toBe(0);
    expect(commands(first.calls)).toEqual([
      "secret list --format json",
      "d1 list --json",
      "secret put SIGNING_KEYS",
      "deploy",
      "d1 migrations apply DB --remote",
    ]);
    expect(first.calls.find((c) => c.args[0] === "deploy")?.args).toEqual(["deploy", ...varArgs(PRODUCTION)]);

    // What wrangler received on stdin: a private RS256 JWK set that signs keys its public half verifies.
    const stored = JSON.parse(first.calls[2]?.stdin ?? "") as { keys: Record<string, string>[] };
    expect(stored.keys).toHaveLength(1);
    expect(stored.keys[0]).toMatchObject({ kty: "RSA", alg: "RS256", use: "sig", kid: expect.stringMatching(/^kg-\d{8}-[0-9a-f]{6}$/) });
    expect(typeof stored.keys[0]?.d).toBe("string");
    expect(await signsAndVerifies(stored)).toMatchObject({ kid: stored.keys[0]?.kid, payload: { scopes: ["api:read"] } });
    expect(first.stdout + first.stderr).not.toContain(stored.keys[0]?.d as string);

    // Again: the secret exists and is kept; migrations now run before the new code.
    const second = await fake.deploy(PRODUCTION);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("secrets: SIGNING_KEYS exists, kept as it is");
    expect(commands(second.calls)).toEqual(["secret list --format json", "d1 list --json", "d1 migrations apply DB --remote", "deploy"]);

    // Turning on signed identity later adds its keys, and only those.
    const withAssertions = await fake.deploy([...PRODUCTION, "IDENTITY_ASSERTION:jwt"]);
    expect(withAssertions.code).toBe(0);
    expect(commands(withAssertions.calls)).toEqual([
      "secret list --format json",
      "d1 list --json",
      "d1 migrations apply DB --remote",
      "secret put IDENTITY_ASSERTION_KEYS",
      "deploy",
    ]);
    const identity = JSON.parse(withAssertions.calls[3]?.stdin ?? "") as { keys: Record<string, string>[] };
    expect(identity.keys[0]).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", kid: expect.stringMatching(/^kg-id-/) });
    expect(typeof identity.keys[0]?.d).toBe("string");
  }, 180_000);

  it("refuses before creating anything when no identity provider is configured: no USER_TOKEN_JWKS_URL, no USER_TOKEN_JWKS secret", async () => {
    const withoutUrl = PRODUCTION.filter((v) => !v.startsWith("USER_TOKEN_JWKS_URL"));
    const bare = account({ worker: true, secrets: ["SIGNING_KEYS"], databases: ["keygate"] });
    const refused = await bare.deploy(withoutUrl);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("USER_TOKEN_JWKS_URL is not set and the worker has no USER_TOKEN_JWKS secret");
    expect(commands(refused.calls)).toEqual(["secret list --format json", "d1 list --json"]);

    const inline = account({ worker: true, secrets: ["SIGNING_KEYS", "USER_TOKEN_JWKS"], databases: ["keygate"] });
    const accepted = await inline.deploy(withoutUrl);
    expect(accepted.code).toBe(0);
    expect(commands(accepted.calls)).toEqual(["secret list --format json", "d1 list --json", "d1 migrations apply DB --remote", "deploy"]);
  }, 120_000);
});
