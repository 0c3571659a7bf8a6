/**
 * The seed's client examples (Python APIKeyClient, Node.js CLI, GitHub Actions deploy step, Flask
 * `require_scope` origin), kept verbatim under test/e2e/clients/, run against the real dev server
 * with real keys from the management API. The only changes are what a user configures: the base
 * URL, HOME for the CLI's config file, the values GitHub Actions substitutes, and (Flask) the `app`,
 * PUBLIC_KEY from keygate's JWKS and a runner around the seed's code.
 *
 * Python needs one interpreter with requests, flask, jwt (PyJWT) and cryptography; on Debian:
 *   apt-get install -y python3-requests python3-flask python3-jwt python3-cryptography
 * KEYGATE_PYTHON picks the interpreter; KEYGATE_SKIP_PYTHON=1 skips the Python clients.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, type Keygate, startKeygate } from "./harness";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const CLIENTS = path.join(import.meta.dirname, "clients");
const SEED = process.env.KEYGATE_SEED ?? path.resolve(ROOT, "..", "shared", "seed", "api-key-management.md");

const PY_MODULES = ["requests", "flask", "jwt", "cryptography"];
const APT_PACKAGES = "python3-requests python3-flask python3-jwt python3-cryptography";
const SKIP_PYTHON = process.env.KEYGATE_SKIP_PYTHON === "1";

/** The first interpreter that imports every module the Python clients need, or why there is none. */
function findPython(): { python: string | null; tried: string[] } {
  const candidates = [...new Set([process.env.KEYGATE_PYTHON, "python3", "/usr/bin/python3", "python"].filter((p): p is string => !!p))];
  const probe = `import importlib.util; print(" ".join(m for m in ${JSON.stringify(PY_MODULES)} if importlib.util.find_spec(m) is None))`;
  const tried: string[] = [];
  for (const candidate of candidates) {
    try {
      const missing = execFileSync(candidate, ["-c", probe], {
        encoding: "utf8",
        timeout: 20_000,
        stdio: ["ignore", "pipe", "ignore"],
      }).trim();
      if (missing === "") return { python: candidate, tried };
      tried.push(`${candidate} (missing ${missing})`);
    } catch {
      tried.push(`${candidate} (not runnable)`);
    }
  }
  return { python: null, tried };
}

const found = SKIP_PYTHON ? { python: null, tried: [] } : findPython();

/** Called first in every Python group: fails it (never skips) when no interpreter fits. */
function requirePython(): string {
  if (found.python === null) {
    throw new Error(
      `No Python interpreter has ${PY_MODULES.join(", ")} (tried: ${found.tried.join("; ")}). ` +
        `Install them with \`apt-get install -y ${APT_PACKAGES}\` (Debian's /usr/bin/python3 then has all of them), ` +
        "or point KEYGATE_PYTHON at an interpreter that has them, or set KEYGATE_SKIP_PYTHON=1 to skip the Python clients.",
    );
  }
  return found.python;
}

/** Children talk to 127.0.0.1 only: never through a proxy from the environment. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, NO_PROXY: "127.0.0.1,localhost", no_proxy: "127.0.0.1,localhost", ...extra };
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion; a non-zero exit is a result, not an error. */
function runProgram(file: string, args: string[], env: NodeJS.ProcessEnv, cwd = ROOT): Promise<Ran> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env, cwd, timeout: 30_000, encoding: "utf8" }, (err, stdout, stderr) => {
      if (err && typeof err.code !== "number") return reject(new Error(`${file} ${args.join(" ")} failed: ${err.message}\n${stderr}`));
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
  });
}

function fixture(name: string): string {
  return readFileSync(path.join(CLIENTS, name), "utf8");
}

/** Replaces the one occurrence of `from` (a value the user configures) with `to`. */
function configure(text: string, from: string, to: string): string {
  expect(text.split(from).length - 1, `exactly one ${from} to configure`).toBe(1);
  return text.replace(from, () => to);
}

interface CreatedKey {
  id: string;
  api_key: string;
}

async function createKey(kg: Keygate, userToken: string, tenant: string, name: string, scopes: string[]): Promise<CreatedKey> {
  const res = await fetch(`${kg.url}/api/v1/tenant/${tenant}/api-keys/create`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${userToken}` },
    body: JSON.stringify({ name, scopes, expires_in_days: 90 }),
  });
  const body = await res.text();
  expect(res.status, `${body}\n${kg.logs()}`).toBe(201);
  return JSON.parse(body) as CreatedKey;
}

async function revokeKey(kg: Keygate, userToken: string, tenant: string, id: string): Promise<void> {
  const res = await fetch(`${kg.url}/api/v1/tenant/${tenant}/api-keys/${id}/revoke`, {
    method: "POST",
    headers: { authorization: `Bearer ${userToken}` },
  });
  expect(res.status, await res.text()).toBe(200);
}

/** The text of the first fenced code block after `heading` in the seed. */
function seedBlock(markdown: string, heading: string): string {
  const at = markdown.indexOf(`\n${heading}\n`);
  expect(at, heading).toBeGreaterThan(-1);
  const match = /```[a-z]*\n([\s\S]*?)\n```/.exec(markdown.slice(at));
  expect(match, heading).not.toBeNull();
  return match![1]!;
}

describe("the client fixtures", () => {
  it.skipIf(!existsSync(SEED))("are the seed's code, verbatim", () => {
    const md = readFileSync(SEED, "utf8");
    expect(fixture("api_key_client.py")).toBe(`${seedBlock(md, "### Example: Python Script")}\n`);
    expect(fixture("deploy.yml")).toBe(`${seedBlock(md, "### Example: GitHub Actions CI/CD")}\n`);
    expect(fixture("myapp.cjs")).toBe(`${seedBlock(md, "### Example: Node.js CLI Tool")}\n`);
    const flask = fixture("flask_origin.py");
    const begin = "# ---- BEGIN seed example (verbatim) ----\n";
    const end = "# ---- END seed example ----\n";
    expect(flask.slice(flask.indexOf(begin) + begin.length, flask.indexOf(end))).toBe(
      `${seedBlock(md, "### Checking Scopes in Your API")}\n`,
    );
  });
});

describe("the seed's clients against `npm run dev` (demo origin)", () => {
  let kg: Keygate;
  let userToken: string;
  let work: string;

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), "keygate-clients-"));
    kg = await startKeygate();
    userToken = await kg.userToken(["py-tenant", "cli-tenant", "ci-tenant"]);
  });
  afterAll(async () => {
    await kg?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  describe("Python APIKeyClient (requests)", { skip: SKIP_PYTHON }, () => {
    let python: string;
    let script: string;
    beforeAll(() => {
      python = requirePython();
      script = path.join(work, "api_key_client.py");
      writeFileSync(script, configure(fixture("api_key_client.py"), "'http://localhost:3000'", `'${kg.url}'`));
    });
    const runClient = (apiKey: string) => runProgram(python, [script], childEnv({ API_KEY: apiKey, PYTHONUNBUFFERED: "1" }));

    it("runs the seed's usage block: lists, then creates a resource through the gateway", async () => {
      const key = await createKey(kg, userToken, "py-tenant", "Python script", ["api:read", "api:write"]);
      const first = await runClient(key.api_key);
      expect(first.code, first.stderr).toBe(0);
      const match = /^Found 0 resources\nCreated resource: (res-[0-9a-f-]{36})\n$/.exec(first.stdout);
      expect(match, first.stdout + first.stderr).not.toBeNull();

      const res = await fetch(`${kg.url}/api/v1/resources/${match![1]}`, { headers: { authorization: `Bearer ${key.api_key}` } });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ name: "New Resource", type: "automated", tenant: "py-tenant", created_by: key.id });

      const second = await runClient(key.api_key);
      expect(second.stdout).toMatch(/^Found 1 resources\nCreated resource: res-[0-9a-f-]{36}\n$/);
    });

    it("surfaces keygate's 403 for a missing scope through raise_for_status", async () => {
      const key = await createKey(kg, userToken, "py-tenant", "Read-only script", ["api:read"]);
      const ran = await runClient(key.api_key);
      expect(ran.code, ran.stderr).toBe(0);
      expect(ran.stdout).toMatch(
        new RegExp(`^Found \\d+ resources\\nAPI error: 403 Client Error: [^\\n]* for url: ${kg.url}/api/v1/resources\\n$`),
      );
    });

    it("surfaces keygate's 401 for a revoked key through raise_for_status", async () => {
      const key = await createKey(kg, userToken, "py-tenant", "Soon revoked", ["api:read", "api:write"]);
      await revokeKey(kg, userToken, "py-tenant", key.id);
      const ran = await runClient(key.api_key);
      expect(ran.code, ran.stderr).toBe(0);
      expect(ran.stdout).toMatch(new RegExp(`^API error: 401 Client Error: [^\\n]* for url: ${kg.url}/api/v1/resources\\n$`));
    });
  });

  describe("Node.js CLI tool (axios, ~/.myapp/config.json)", () => {
    let home: string;
    const cli = (...args: string[]) => runProgram(process.execPath, [path.join(CLIENTS, "myapp.cjs"), ...args], childEnv({ HOME: home }));
    const writeConfig = (apiKey: string) =>
      writeFileSync(path.join(home, ".myapp", "config.json"), JSON.stringify({ apiKey, baseURL: kg.url }, null, 2));

    beforeAll(() => {
      home = path.join(work, "home");
      mkdirSync(path.join(home, ".myapp"), { recursive: true });
    });

    it("lists, creates and deletes resources", async () => {
      const key = await createKey(kg, userToken, "cli-tenant", "CLI key", ["api:read", "api:write"]);
      writeConfig(key.api_key);

      const empty = await cli("list");
      expect(empty.code, empty.stderr).toBe(0);
      expect(empty.stdout).toContain("(index)");
      expect(empty.stdout).not.toContain("res-");

      const created = await cli("create", "Nightly Build", "automated");
      expect(created.code, created.stderr).toBe(0);
      expect(created.stdout).toMatch(/^Created: \{/);
      expect(created.stdout).toContain("name: 'Nightly Build'");
      expect(created.stdout).toContain("type: 'automated'");
      expect(created.stdout).toContain(`created_by: '${key.id}'`);
      const id = /id: '(res-[0-9a-f-]{36})'/.exec(created.stdout)?.[1];
      expect(id, created.stdout).toBeDefined();

      const listed = await cli("list");
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).toContain(id);
      expect(listed.stdout).toContain("Nightly Build");

      const deleted = await cli("delete", id!);
      expect(deleted.code, deleted.stderr).toBe(0);
      expect(deleted.stdout).toBe(`Deleted resource ${id}\n`);

      const after = await cli("list");
      expect(after.stdout).not.toContain(id);
    });

    it("reports keygate's refusals as the seed's `Error: ...` and exit code 1", async () => {
      const readOnly = await createKey(kg, userToken, "cli-tenant", "CLI read-only", ["api:read"]);
      writeConfig(readOnly.api_key);
      const forbidden = await cli("create", "Nope", "manual");
      expect(forbidden.code).toBe(1);
      expect(forbidden.stderr).toBe("Error: Request failed with status code 403\n");

      await revokeKey(kg, userToken, "cli-tenant", readOnly.id);
      const revoked = await cli("list");
      expect(revoked.code).toBe(1);
      expect(revoked.stderr).toBe("Error: Request failed with status code 401\n");
    });
  });

  describe("GitHub Actions deploy step (curl)", () => {
    const SHA = "3f9a1c2b4d5e6f708192a3b4c5d6e7f8091a2b3c";
    let script: string;

    beforeAll(() => {
      // The step's `run: |` block scalar, as the runner writes it to a script file.
      const lines = fixture("deploy.yml").split("\n");
      const start = lines.findIndex((l) => /^\s*run: \|$/.test(l));
      expect(start).toBeGreaterThan(-1);
      const runIndent = lines[start]!.search(/\S/);
      const body: string[] = [];
      for (const line of lines.slice(start + 1)) {
        if (line.trim() !== "" && line.search(/\S/) <= runIndent) break;
        body.push(line);
      }
      const indent = body[0]!.search(/\S/);
      let text = `${body
        .map((l) => l.slice(indent))
        .join("\n")
        .trimEnd()}\n`;
      expect(fixture("deploy.yml")).toContain(`API_KEY: \${{ secrets.DEPLOY_API_KEY }}`);
      // What GitHub substitutes, and the one URL the user points at their own gateway.
      text = configure(text, `\${{ github.sha }}`, SHA);
      text = configure(text, "https://api.example.com/deploy", `${kg.url}/deploy`);
      script = path.join(work, "deploy-step.sh");
      writeFileSync(script, text);
    });
    // GitHub's default `shell: bash` on ubuntu runners.
    const step = (apiKey: string) =>
      runProgram("bash", ["--noprofile", "--norc", "-eo", "pipefail", script], childEnv({ API_KEY: apiKey }));

    it("deploys through keygate to the demo origin with a deploy:production key", async () => {
      const key = await createKey(kg, userToken, "ci-tenant", "CI/CD Pipeline Key", ["api:read", "api:write", "deploy:production"]);
      const ran = await step(key.api_key);
      expect(ran.code, ran.stderr).toBe(0);
      expect(JSON.parse(ran.stdout)).toEqual({ status: "deployed", environment: "production", version: SHA, deployed_by: key.id });
    });

    it("gets keygate's 403 insufficient_scope body without deploy:production (and the step still exits 0)", async () => {
      const key = await createKey(kg, userToken, "ci-tenant", "No deploy", ["api:read", "api:write"]);
      const ran = await step(key.api_key);
      // The seed's curl has no --fail: the job step passes even though the deploy was refused.
      expect(ran.code, ran.stderr).toBe(0);
      expect(JSON.parse(ran.stdout)).toEqual({
        error: "insufficient_scope",
        error_description: "API key does not have required permissions",
      });
    });
  });
});

describe("the seed's Flask require_scope origin behind keygate", { skip: SKIP_PYTHON }, () => {
  let kg: Keygate;
  let userToken: string;
  let flask: ChildProcess | undefined;
  let flaskUrl: string;
  let flaskLogs = "";

  beforeAll(async () => {
    const python = requirePython();
    const port = await freePort();
    flaskUrl = `http://127.0.0.1:${port}`;
    kg = await startKeygate({ vars: { ORIGIN_URL: flaskUrl } });
    userToken = await kg.userToken(["flask-tenant"]);

    const child = spawn(python, [path.join(CLIENTS, "flask_origin.py")], {
      cwd: CLIENTS,
      env: childEnv({ PORT: String(port), KEYGATE_JWKS_URL: `${kg.url}/.well-known/jwks.json`, PYTHONUNBUFFERED: "1" }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    flask = child;
    child.stdout?.on("data", (d) => {
      flaskLogs += d;
    });
    child.stderr?.on("data", (d) => {
      flaskLogs += d;
    });
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the Flask origin exited early (${child.exitCode}):\n${flaskLogs}`);
      try {
        await fetch(`${flaskUrl}/`); // any answer (Flask's 404) means it is listening
        break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`the Flask origin did not start:\n${flaskLogs}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });
  afterAll(async () => {
    if (flask && flask.exitCode === null && flask.signalCode === null) {
      const exited = new Promise((resolve) => flask?.once("exit", resolve));
      flask.kill("SIGTERM");
      const timer = setTimeout(() => flask?.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await kg?.stop();
  });

  const call = async (url: string, method: string, apiKey?: string) => {
    const res = await fetch(url, { method, headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} });
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text) as unknown, text };
  };

  it("answers POST /api/v1/deploy through keygate for a deploy:production key", async () => {
    const key = await createKey(kg, userToken, "flask-tenant", "Deployer", ["deploy:production"]);
    const res = await call(`${kg.url}/api/v1/deploy`, "POST", key.api_key);
    expect(res.status, res.text + flaskLogs).toBe(200);
    expect(res.body).toEqual({ status: "deployed" });
  });

  it("answers GET /api/v1/resources through keygate with accessed_by = the key's id", async () => {
    const key = await createKey(kg, userToken, "flask-tenant", "Reader", ["api:read"]);
    const res = await call(`${kg.url}/api/v1/resources`, "GET", key.api_key);
    expect(res.status, res.text + flaskLogs).toBe(200);
    expect(res.body).toEqual({ resources: [], accessed_by: key.id });
  });

  it("refuses a key without the scope: keygate's 403 through the gateway, the decorator's own 403 directly", async () => {
    const key = await createKey(kg, userToken, "flask-tenant", "Reader without deploy", ["api:read", "api:write"]);
    const viaGateway = await call(`${kg.url}/api/v1/deploy`, "POST", key.api_key);
    expect(viaGateway.status).toBe(403);
    expect(viaGateway.body).toEqual({ error: "insufficient_scope", error_description: "API key does not have required permissions" });

    const direct = await call(`${flaskUrl}/api/v1/deploy`, "POST", key.api_key);
    expect(direct.status).toBe(403);
    expect(direct.body).toEqual({
      error: "Insufficient permissions",
      required: ["deploy:production"],
      provided: ["api:read", "api:write"],
    });

    const noToken = await call(`${flaskUrl}/api/v1/deploy`, "POST");
    expect(noToken.status).toBe(401);
    expect(noToken.body).toEqual({ error: "No token provided" });
  });

  it("sees revocation only through keygate: the offline decorator still accepts a revoked key", async () => {
    const key = await createKey(kg, userToken, "flask-tenant", "Revoked deployer", ["deploy:production"]);
    await revokeKey(kg, userToken, "flask-tenant", key.id);
    const viaGateway = await call(`${kg.url}/api/v1/deploy`, "POST", key.api_key);
    expect(viaGateway.status).toBe(401);
    expect(viaGateway.body).toEqual({ error: "invalid_token", error_description: "API key has been revoked" });
    // The seed's decorator checks signature, audience and expiry only; keep the origin unreachable except via keygate.
    const direct = await call(`${flaskUrl}/api/v1/deploy`, "POST", key.api_key);
    expect(direct.status).toBe(200);
  });
});
