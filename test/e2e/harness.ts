/**
 * End-to-end harness: runs the real `npm run dev` path (scripts/dev.mjs -> wrangler dev) on a free
 * port with its own persisted D1/KV directory and its own fresh keys, and stops every process it
 * started. Tokens are minted by the real `npm run token` script.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { newDevKeyMaterial } from "../../scripts/lib/keys.mjs";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const run = promisify(execFile);
const READY_TIMEOUT_MS = 90_000;

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface Keygate {
  url: string;
  /** A user access token from `npm run token` for these tenants. */
  userToken(tenants: string[], sub?: string): Promise<string>;
  /** Output of the dev server so far (for failure messages). */
  logs(): string;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Extra `--var NAME:VALUE` for wrangler dev (e.g. ORIGIN_URL). */
  vars?: Record<string, string>;
}

export async function startKeygate(options: StartOptions = {}): Promise<Keygate> {
  const dir = mkdtempSync(path.join(tmpdir(), "keygate-e2e-"));
  const keys = newDevKeyMaterial();
  const envFile = path.join(dir, "test.env");
  writeFileSync(envFile, `SIGNING_KEYS='${keys.SIGNING_KEYS}'\nUSER_TOKEN_JWKS='${keys.USER_TOKEN_JWKS}'\n`);
  const idpKeyFile = path.join(dir, "idp.json");
  writeFileSync(idpKeyFile, JSON.stringify(keys.idpPrivateJwk));

  const port = await freePort();
  const args = [
    path.join(ROOT, "scripts", "dev.mjs"),
    "--port",
    String(port),
    "--ip",
    "127.0.0.1",
    "--inspector-port",
    String(await freePort()),
    "--persist-to",
    path.join(dir, "state"),
    "--env-file",
    envFile,
    "--show-interactive-dev-session=false",
  ];
  for (const [name, value] of Object.entries(options.vars ?? {})) args.push("--var", `${name}:${value}`);

  let output = "";
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, CI: "true", NO_COLOR: "1", FORCE_COLOR: "0" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // its own process group, so stop() reaches wrangler, workerd and the demo origin
  });
  child.stdout?.on("data", (d) => {
    output += d;
  });
  child.stderr?.on("data", (d) => {
    output += d;
  });

  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.pid !== undefined) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        // already gone
      }
      const timeout = setTimeout(() => {
        try {
          process.kill(-(child.pid as number), "SIGKILL");
        } catch {
          // already gone
        }
      }, 5_000);
      await exited;
      clearTimeout(timeout);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`keygate dev server exited early (${child.exitCode}):\n${output}`);
    }
    try {
      const res = await fetch(`${url}/_keygate/health`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`keygate dev server did not become ready:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }

  return {
    url,
    async userToken(tenants, sub = "user-123") {
      const tenantArgs = tenants.flatMap((t) => ["--tenant", t]);
      const { stdout } = await run(process.execPath, [
        path.join(ROOT, "scripts", "token.mjs"),
        "--idp-key",
        idpKeyFile,
        "--sub",
        sub,
        ...tenantArgs,
      ]);
      return stdout.trim();
    },
    logs: () => output,
    stop,
  };
}
