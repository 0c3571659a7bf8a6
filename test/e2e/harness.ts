/**
 * End-to-end harness: runs the real `npm run dev` path (scripts/dev.mjs -> wrangler dev) on a free
 * port with its own persisted D1/KV directory and its own fresh keys, and stops every process it
 * started. Tokens are minted by the real `npm run token` script; with `devSignIn` the console's dev
 * identity provider runs too, signing with the same key.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { newDevKeyMaterial } from "../../scripts/lib/keys.mjs";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const run = promisify(execFile);
const READY_TIMEOUT_MS = 150_000;

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
  /** Local D1/KV state (wrangler --persist-to); reusable by a later startKeygate. */
  stateDir: string;
  /** The private JWK that signs this server's API keys (for forging test tokens). */
  signingJwk: Record<string, string>;
  /** A user access token from `npm run token` for these tenants. */
  userToken(tenants: string[], sub?: string): Promise<string>;
  /** Output of the dev server so far (for failure messages). */
  logs(): string;
  /** Open file descriptors of every process of the dev server (wrangler, workerd, ...), from /proc. */
  openDescriptors(): number;
  /** Stops every process; removes the state unless `keepState`. */
  stop(options?: { keepState?: boolean }): Promise<void>;
}

export interface StartOptions {
  /** Extra `--var NAME:VALUE` for wrangler dev (e.g. ORIGIN_URL). */
  vars?: Record<string, string>;
  /** Reuse the state (and keys) of a server stopped with keepState. */
  resume?: Pick<Keygate, "stateDir">;
  /** false: no inline USER_TOKEN_JWKS, so user tokens are verified against USER_TOKEN_JWKS_URL (a real IdP). */
  inlineUserTokenJwks?: boolean;
  /** Run the console's dev identity provider (scripts/dev-idp.mjs) with this server's IdP key, as `npm run dev` does. */
  devSignIn?: boolean;
}

export async function startKeygate(options: StartOptions = {}): Promise<Keygate> {
  const dir = options.resume?.stateDir ?? mkdtempSync(path.join(tmpdir(), "keygate-e2e-"));
  const envFile = path.join(dir, "test.env");
  const idpKeyFile = path.join(dir, "idp.json");
  const signingFile = path.join(dir, "signing.json");
  if (!options.resume) {
    const keys = newDevKeyMaterial();
    const inlineJwks = options.inlineUserTokenJwks === false ? "" : `USER_TOKEN_JWKS='${keys.USER_TOKEN_JWKS}'\n`;
    writeFileSync(envFile, `SIGNING_KEYS='${keys.SIGNING_KEYS}'\nIDENTITY_ASSERTION_KEYS='${keys.IDENTITY_ASSERTION_KEYS}'\n${inlineJwks}`);
    writeFileSync(idpKeyFile, JSON.stringify(keys.idpPrivateJwk));
    writeFileSync(signingFile, JSON.stringify(JSON.parse(keys.SIGNING_KEYS).keys[0]));
  }
  const signingJwk = JSON.parse(readFileSync(signingFile, "utf8")) as Record<string, string>;

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
  if (options.devSignIn) args.push("--dev-idp-key", idpKeyFile);

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
  const stop = async (stopOptions: { keepState?: boolean } = {}) => {
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
    if (!stopOptions.keepState) rmSync(dir, { recursive: true, force: true });
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
    stateDir: dir,
    signingJwk,
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
    openDescriptors: () => (child.pid === undefined ? 0 : processGroupDescriptors(child.pid)),
    stop,
  };
}

/** Open descriptors summed over the processes of one process group (Linux /proc). */
function processGroupDescriptors(pgid: number): number {
  let total = 0;
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces, so read after ")".
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]) !== pgid) continue;
      total += readdirSync(`/proc/${pid}/fd`).length;
    } catch {
      // the process ended while we looked
    }
  }
  return total;
}
