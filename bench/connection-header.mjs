#!/usr/bin/env node
// Experiment (issue 13): does workerd hide `Connection` from a worker, so that a proxy in a worker
// cannot drop the headers a client names in it (RFC 9110 §7.6.1)?
//
// A probe worker answers with the request headers it sees, after forwarding the request to a Node
// origin the way keygate does (drop every header named in `Connection`, then `fetch`), and with the
// headers that origin received. The request is written byte for byte over TCP:
//   Connection: close, x-hop / X-Hop: secret / Keep-Alive: timeout=5 / TE: trailers / Proxy-Connection: keep-alive
// and sent three ways: to the worker's own socket in workerd (miniflare `unsafeDirectSockets`), through
// miniflare's entry worker, and through `wrangler dev` (what `npm run dev` runs).
//
//   node bench/connection-header.mjs
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { cleanup, installSignalHandlers, log, onCleanup, runMain } from "./lib/lifecycle.mjs";
import { OUT, ROOT } from "./lib/processes.mjs";
import { table } from "./lib/report.mjs";

installSignalHandlers();

const PROBE = `export default {
  async fetch(request, env) {
    const seen = [...request.headers];
    // keygate's rule (src/gateway/proxy.ts): drop what Connection names, then Connection itself.
    const headers = new Headers(request.headers);
    for (const name of (headers.get("connection") ?? "").split(",")) if (name.trim()) headers.delete(name.trim());
    headers.delete("connection");
    const origin = await fetch(env.ORIGIN + "/", { headers });
    return Response.json({ seen, forwarded: [...headers], originReceived: await origin.json() });
  },
};`;

const REQUEST_HEADERS = [
  "Connection: close, x-hop",
  "X-Hop: secret",
  "Keep-Alive: timeout=5",
  "TE: trailers",
  "Proxy-Connection: keep-alive",
];

/** One raw HTTP/1.1 request; resolves the parsed JSON body. */
function rawRequest(url) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(u.port), u.hostname);
    let data = "";
    socket.on("data", (d) => (data += d));
    socket.on("error", reject);
    socket.on("end", () => {
      const body = data.slice(data.indexOf("\r\n\r\n") + 4);
      // Chunked or not, the JSON object is the only {...} in the body.
      resolve(JSON.parse(body.slice(body.indexOf("{"), body.lastIndexOf("}") + 1)));
    });
    socket.write(`GET / HTTP/1.1\r\nHost: example.com\r\n${REQUEST_HEADERS.join("\r\n")}\r\n\r\n`);
  });
}

/** A Node origin that answers with the raw header names it received. */
async function startOrigin() {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(req.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase())));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  onCleanup(() => new Promise((resolve) => server.close(resolve)));
  server.unref();
  return `http://127.0.0.1:${server.address().port}`;
}

async function freePort() {
  const srv = net.createServer();
  await new Promise((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** `wrangler dev` on the probe, on free ports; resolves its URL once it is ready. */
async function startWranglerDev(originUrl) {
  const dir = path.join(OUT, `connection-header-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "probe.mjs"), PROBE);
  writeFileSync(
    path.join(dir, "wrangler.toml"),
    `name = "probe"\nmain = "probe.mjs"\ncompatibility_date = "2026-04-01"\n[vars]\nORIGIN = "${originUrl}"\n`,
  );
  const [port, inspectorPort] = [await freePort(), await freePort()];
  const child = spawn(
    path.join(ROOT, "node_modules", ".bin", "wrangler"),
    [
      "dev",
      "--config",
      path.join(dir, "wrangler.toml"),
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--inspector-port",
      String(inspectorPort),
      "--persist-to",
      path.join(dir, "state"),
    ],
    {
      cwd: dir,
      env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1" },
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  onCleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      process.kill(-child.pid, "SIGTERM");
      await exited;
    }
    const { rmSync } = await import("node:fs");
    rmSync(dir, { recursive: true, force: true });
  });
  let output = "";
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`wrangler dev did not start:\n${output}`)), 60_000);
    const onData = (d) => {
      output += d;
      if (output.includes("Ready on")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => reject(new Error(`wrangler dev exited ${code}:\n${output}`)));
  });
  return `http://127.0.0.1:${port}`;
}

async function main() {
  const originUrl = await startOrigin();
  const { Miniflare } = await import("miniflare");
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    workers: [
      {
        name: "probe",
        modules: true,
        script: PROBE,
        compatibilityDate: "2026-04-01",
        bindings: { ORIGIN: originUrl },
        unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
      },
    ],
  });
  onCleanup(() => mf.dispose());
  const entry = await mf.ready;
  const direct = await mf.unsafeGetDirectURL("probe");
  log("starting wrangler dev on the probe...");
  const dev = await startWranglerDev(originUrl);

  const rows = [];
  for (const [via, url] of [
    ["workerd, worker's own socket", direct.href],
    ["workerd via miniflare's entry worker", entry.href],
    ["wrangler dev (npm run dev)", dev],
  ]) {
    const r = await rawRequest(url);
    const seen = Object.fromEntries(r.seen);
    const has = (list, name) => (list.includes(name) ? "yes" : "no");
    rows.push({
      via,
      connection: seen.connection ?? "(absent)",
      others: ["x-hop", "keep-alive", "te", "proxy-connection"].filter((h) => h in seen).join(" ") || "-",
      originXHop: has(r.originReceived, "x-hop"),
      originDropped: ["connection", "keep-alive", "te", "x-hop", "proxy-connection"].filter((h) => !r.originReceived.includes(h)).join(" "),
    });
  }
  console.log(`\nrequest headers sent: ${REQUEST_HEADERS.join(" | ")}\n`);
  console.log(
    table(rows, [
      { title: "path to the worker", get: (r) => r.via, left: true },
      { title: "worker sees Connection", get: (r) => r.connection, left: true },
      { title: "worker also sees", get: (r) => r.others, left: true },
      { title: "origin gets X-Hop", get: (r) => r.originXHop, left: true },
      { title: "not at the origin", get: (r) => r.originDropped, left: true },
    ]),
  );
  await cleanup();
}

runMain(main);
