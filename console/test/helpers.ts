/** Test helpers for the console's logic: an in-memory Storage and a real dev identity provider process. */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { newRsaPrivateJwk } from "../../scripts/lib/keys.mjs";
import type { SessionStore } from "../src/lib/session";

const ROOT = path.resolve(import.meta.dirname, "..", "..");

/** sessionStorage's three methods the console uses, over a Map (Node has no sessionStorage). */
export class MemoryStore implements SessionStore {
  readonly items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, String(value));
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
}

export interface DevIdp {
  issuer: string;
  clientId: string;
  stop(): Promise<void>;
}

/** Starts scripts/dev-idp.mjs (the real one `npm run dev` uses) with a fresh key on a free port. */
export async function startDevIdp(options: { sub?: string; tenants?: string[] } = {}): Promise<DevIdp> {
  const dir = mkdtempSync(path.join(tmpdir(), "keygate-dev-idp-"));
  const keyFile = path.join(dir, "idp.json");
  writeFileSync(keyFile, JSON.stringify(newRsaPrivateJwk("dev-idp")));
  const clientId = "keygate-console-test";
  const args = [path.join(ROOT, "scripts", "dev-idp.mjs"), "--port", "0", "--client-id", clientId, "--idp-key", keyFile];
  if (options.sub) args.push("--sub", options.sub);
  for (const t of options.tenants ?? []) args.push("--tenant", t);
  const child: ChildProcess = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
  const issuer = await new Promise<string>((resolve, reject) => {
    let err = "";
    child.stderr?.on("data", (d) => {
      err += d;
      const m = /at (http:\/\/127\.0\.0\.1:\d+)/.exec(err);
      if (m?.[1]) resolve(m[1]);
    });
    child.once("exit", (code) => reject(new Error(`dev-idp exited (${code}): ${err}`)));
  });
  return {
    issuer,
    clientId,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
