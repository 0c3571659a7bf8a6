/**
 * The OpenAPI document that `npm run dev` serves, pointed at the tools people point at it:
 * - openapi-typescript generates types from it, and a small client of the seed's flow written
 *   against them type-checks with tsc (strict) and then runs against the server;
 * - Python's jsonschema (Debian's python3-jsonschema, Draft 2020-12) validates every example in it,
 *   and every `pattern` compiles in Python's `re`.
 * (Spectral lints the same document in `npm run lint`.)
 */
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import openapiTS, { astToString } from "openapi-typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Keygate, startKeygate } from "./harness";

const exec = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "..", "..");
const CLIENTS = path.join(import.meta.dirname, "clients");
const TSC = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const PYTHON = process.env.KEYGATE_PYTHON ?? "/usr/bin/python3";
const SKIP_PYTHON = process.env.KEYGATE_SKIP_PYTHON === "1";

type Document = { paths: Record<string, Record<string, { requestBody?: { content: Record<string, { example?: unknown }> } }>> };

let kg: Keygate;
let doc: Document;
let work: string;

beforeAll(async () => {
  kg = await startKeygate();
  work = mkdtempSync(path.join(tmpdir(), "keygate-openapi-tools-"));
  const res = await fetch(`${kg.url}/api/v1/openapi.json`);
  expect(res.status).toBe(200);
  doc = (await res.json()) as Document;
});

afterAll(async () => {
  await kg?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Runs a program; its output is in the failure message if it fails. */
async function run(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(file, args, { cwd: work, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "", stderr: e.stderr ?? String(err) };
  }
}

describe("openapi-typescript", () => {
  it("generates types that a strict client of the seed's flow type-checks against, and the client works", async () => {
    writeFileSync(path.join(work, "keygate-api.ts"), astToString(await openapiTS(doc as never)));
    copyFileSync(path.join(CLIENTS, "typed", "typed-client.ts"), path.join(work, "typed-client.ts"));
    writeFileSync(path.join(work, "package.json"), JSON.stringify({ type: "module" }));
    writeFileSync(
      path.join(work, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "ES2022",
          moduleResolution: "bundler",
          lib: ["ES2023", "DOM"],
          types: ["node"],
          typeRoots: [path.join(ROOT, "node_modules", "@types")],
          strict: true,
          noUnusedLocals: true,
          noUnusedParameters: true,
          noImplicitReturns: true,
          noUncheckedIndexedAccess: true,
          skipLibCheck: true,
          rootDir: ".",
          outDir: "out",
        },
        files: ["typed-client.ts", "keygate-api.ts"],
      }),
    );
    // The client holds a @ts-expect-error on a body the document forbids: if the types let it through, tsc fails too.
    const tsc = await run(process.execPath, [TSC, "-p", "tsconfig.json"]);
    expect(tsc, `${tsc.stdout}${tsc.stderr}`).toMatchObject({ code: 0 });

    const tenant = `t-${crypto.randomUUID().slice(0, 8)}`;
    const client = await run(process.execPath, [path.join(work, "out", "typed-client.js"), kg.url, tenant, await kg.userToken([tenant])]);
    expect(client.code, `${client.stderr}\n${kg.logs()}`).toBe(0);
    const result = JSON.parse(client.stdout);
    expect(result).toMatchObject({
      created: { name: "CI/CD Pipeline Key", scopes: ["api:read", "api:write", "deploy:production"], revoked: false },
      listed: true,
      gatewayBeforeRevoke: 200,
      revoked: { success: true, message: "API key revoked successfully" },
      gatewayAfterRevoke: { status: 401, error: "invalid_token" },
    });
    expect(result.created.id).toMatch(/^key-/);
  });
});

describe("Python's jsonschema", { skip: SKIP_PYTHON }, () => {
  const validate = async (document: unknown) => {
    const file = path.join(work, `openapi-${crypto.randomUUID()}.json`);
    writeFileSync(file, JSON.stringify(document));
    const res = await run(PYTHON, [path.join(CLIENTS, "validate_examples.py"), file]);
    if (res.stdout === "")
      throw new Error(`${PYTHON} validate_examples.py failed (apt-get install -y python3-jsonschema?):\n${res.stderr}`);
    return { code: res.code, ...(JSON.parse(res.stdout) as { examples: number; patterns: number; errors: string[] }) };
  };

  it("validates every example in the document (Draft 2020-12), and every pattern compiles in re", async () => {
    const result = await validate(doc);
    expect(result.errors).toEqual([]);
    expect(result.code).toBe(0);
    // Request bodies, responses and schema examples: 18 when this was written; fewer means the walk missed some.
    expect(result.examples).toBeGreaterThanOrEqual(18);
    expect(result.patterns).toBeGreaterThan(0);
  });

  it("refuses an example the document's own rules refuse (a control character in a key name)", async () => {
    const broken = structuredClone(doc);
    const create = broken.paths["/api/v1/tenant/{tenant}/api-keys/create"]?.post?.requestBody?.content["application/json"];
    create!.example = { ...(create!.example as object), name: "CI/CD\u0007Pipeline Key" };
    const result = await validate(broken);
    expect(result.code).toBe(1);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toMatch(/^POST \/api\/v1\/tenant\/\{tenant\}\/api-keys\/create request application\/json example: name: /);
  });
});
