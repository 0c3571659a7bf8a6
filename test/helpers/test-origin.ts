/**
 * A real HTTP origin on 127.0.0.1 for gateway tests (Node side). It echoes what it received,
 * streams large bodies both ways, can be slow on purpose, and remembers which paths it saw so a
 * test can prove that a refused request never reached it.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface TestOrigin {
  url: string;
  port: number;
  close(): Promise<void>;
}

const CHUNK = Buffer.alloc(64 * 1024, "keygate-");

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

async function drain(req: IncomingMessage): Promise<{ bytes: number; sha256: string; text: string }> {
  const hash = createHash("sha256");
  let bytes = 0;
  const head: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
    if (bytes <= 4096) head.push(chunk);
  }
  return { bytes, sha256: hash.digest("hex"), text: Buffer.concat(head).toString("utf8").slice(0, 4096) };
}

export function startTestOrigin(port = 0): Promise<TestOrigin> {
  const seen = new Map<string, number>();
  // A stand-in identity provider: tests PUT a JWK set to /__jwks/<name> and point keygate at it.
  const jwks = new Map<string, string>();
  // A webhook receiver: POST /hooks/<name>[?fail=N] records each delivery (the first N get 500);
  // GET /__hooks/<name> lists what arrived.
  const hooks = new Map<string, { status: number; headers: Record<string, string | string[] | undefined>; body: string }[]>();
  const server: Server = createServer(async (req, res) => {
    const rawUrl = req.url ?? "/";
    const path = rawUrl.split("?")[0] ?? "/";
    if (path.startsWith("/__seen/")) {
      return json(res, 200, { count: seen.get(decodeURIComponent(path.slice("/__seen".length))) ?? 0 });
    }
    seen.set(path, (seen.get(path) ?? 0) + 1);

    if (path.startsWith("/__jwks/")) {
      if (req.method === "PUT") {
        jwks.set(path, (await drain(req)).text);
        return json(res, 204, {});
      }
      const body = jwks.get(path);
      if (body === undefined) return json(res, 404, { error: "no such JWKS" });
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(body);
    }

    if (path.startsWith("/__hooks/")) return json(res, 200, hooks.get(`/hooks${path.slice("/__hooks".length)}`) ?? []);
    if (path.startsWith("/hooks/") && req.method === "POST") {
      const received = hooks.get(path) ?? [];
      const fail = Number(new URL(rawUrl, "http://x").searchParams.get("fail") ?? "0");
      const status = received.length < fail ? 500 : 200;
      const body = await drain(req);
      received.push({ status, headers: req.headers, body: body.text });
      hooks.set(path, received);
      return json(res, status, { received: received.length });
    }
    if (path === "/dns-query") {
      // A DNS-over-HTTPS JSON resolver for webhook host checks: names under private.test resolve
      // to a private address, under nxdomain.test to nothing, anything else to public ones.
      const params = new URL(rawUrl, "http://x").searchParams;
      const name = params.get("name") ?? "";
      const type = params.get("type") === "AAAA" ? 28 : 1;
      const data = name.endsWith("private.test")
        ? type === 1
          ? ["10.1.2.3"]
          : []
        : name.endsWith("nxdomain.test")
          ? []
          : type === 1
            ? ["93.184.215.14"]
            : ["2606:2800:21f:cb07:6820:80da:af6b:8b2c"];
      return json(res, 200, {
        Status: data.length > 0 || !name.endsWith("nxdomain.test") ? 0 : 3,
        Answer: data.map((d) => ({ name, type, TTL: 60, data: d })),
      });
    }
    if (path.startsWith("/reset")) {
      // ?after=headers: status and a first chunk, then the connection is reset mid-body;
      // otherwise reset before any response.
      if (new URL(rawUrl, "http://x").searchParams.get("after") === "headers") {
        res.writeHead(200, { "content-type": "text/plain", "content-length": "1000000" });
        res.write("partial body ");
        setTimeout(() => req.socket.destroy(), 50);
      } else req.socket.destroy();
      return;
    }
    if (path.startsWith("/slow")) {
      const ms = Number(new URL(rawUrl, "http://x").searchParams.get("ms") ?? "1000");
      const timer = setTimeout(() => json(res, 200, { slow: true }), ms);
      // Closed before the answer: the client gave up (GET /__seen/__abandoned<path> counts them).
      res.on("close", () => {
        clearTimeout(timer);
        if (!res.writableEnded) seen.set(`/__abandoned${path}`, (seen.get(`/__abandoned${path}`) ?? 0) + 1);
      });
      return;
    }
    if (path.startsWith("/download")) {
      const total = Number(new URL(rawUrl, "http://x").searchParams.get("bytes") ?? "0");
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(total) });
      let sent = 0;
      const pump = () => {
        while (sent < total) {
          const n = Math.min(CHUNK.length, total - sent);
          sent += n;
          if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return void res.once("drain", pump);
        }
        res.end();
      };
      return pump();
    }
    if (path.startsWith("/drip")) {
      // Headers at once, then one chunk every `ms`: a slow stream after a fast response.
      const params = new URL(rawUrl, "http://x").searchParams;
      const chunks = Number(params.get("chunks") ?? "5");
      const ms = Number(params.get("ms") ?? "100");
      res.writeHead(200, { "content-type": "text/plain" });
      let sent = 0;
      const timer = setInterval(() => {
        res.write(`chunk ${sent}\n`);
        if (++sent >= chunks) {
          clearInterval(timer);
          res.end();
        }
      }, ms);
      res.on("close", () => clearInterval(timer));
      return;
    }
    if (path.startsWith("/status/")) {
      const status = Number(path.slice("/status/".length));
      return json(res, status, { status }, { "x-origin-header": "kept", "set-cookie": "origin=1; Path=/" });
    }
    const body = await drain(req);
    return json(res, 200, {
      method: req.method,
      url: rawUrl,
      headers: req.headers,
      body: { bytes: body.bytes, sha256: body.sha256, text: body.text },
    });
  });
  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      const { port: bound } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${bound}`,
        port: bound,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
