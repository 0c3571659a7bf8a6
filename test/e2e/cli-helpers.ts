/**
 * Runs the real `keygate` executable (bin/keygate.mjs) as a child process with its own HOME, so
 * no test reads or writes the developer's ~/.config/keygate, and no KEYGATE_* variable of the
 * surrounding shell leaks in.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export const CLI = path.resolve(import.meta.dirname, "..", "..", "bin", "keygate.mjs");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Variables on top of PATH and HOME (undefined removes one). */
  env?: Record<string, string | undefined>;
  /** Written to standard input, which is then closed (closed at once without it). */
  input?: string;
}

/** A fresh HOME for one or more runs; remove() deletes it. */
export function tempHome(): { home: string; remove(): void } {
  const home = mkdtempSync(path.join(tmpdir(), "keygate-cli-home-"));
  return { home, remove: () => rmSync(home, { recursive: true, force: true }) };
}

function childEnv(home: string, extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string | undefined> = { PATH: process.env.PATH, HOME: home, LANG: "C.UTF-8", ...extra };
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

function collect(command: string, args: string[], env: Record<string, string>, input?: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? "");
  });
}

/** `keygate ...args` with stdout and stderr as pipes (not a terminal). */
export function runCli(home: string, args: string[], options: CliOptions = {}): Promise<CliResult> {
  return collect(process.execPath, [CLI, ...args], childEnv(home, options.env), options.input);
}

function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * `keygate ...args` on a pseudo-terminal, through util-linux `script`, so the CLI sees a TTY on
 * stdout exactly as in an interactive shell. Output has the terminal's CRLF line ends.
 */
export function runCliOnTerminal(home: string, args: string[], options: CliOptions = {}): Promise<CliResult> {
  const command = [process.execPath, CLI, ...args].map(shellQuote).join(" ");
  return collect("script", ["-qec", command, "/dev/null"], childEnv(home, { TERM: "xterm", ...options.env }), options.input);
}
