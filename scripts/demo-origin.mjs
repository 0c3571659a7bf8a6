#!/usr/bin/env node
// The demo origin that `npm run dev` puts behind keygate when you have not pointed ORIGIN_URL at
// your own API. It trusts keygate's identity headers (it listens on 127.0.0.1 only) and serves:
//   GET  /health                       public health check
//   GET|POST /api/v1/resources         list / create (the seed's Python client and Node CLI)
//   GET|PUT|PATCH|DELETE /api/v1/resources/{id}
//   POST /api/v1/deploy, POST /deploy  the seed's deploy examples
//   anything else                      echoes the request and the identity keygate forwarded
//
//   node scripts/demo-origin.mjs [--port 8788]
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { port: { type: "string", default: "8788" } } });

const resources = new Map();

function identity(req) {
  return {
    key_id: req.headers["x-keygate-key-id"] ?? null,
    tenant: req.headers["x-keygate-tenant"] ?? null,
    scopes: req.headers["x-keygate-scopes"]?.split(" ") ?? [],
    subject: req.headers["x-keygate-subject"] ?? null,
  };
}

function send(res, status, body) {
  if (status === 204) {
    res.writeHead(204);
    return res.end();
  }
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString("utf8");
  if (text === "") return {};
  try {
    return JSON.parse(text);
  } catch {
    return { _raw: text };
  }
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? "/", "http://demo");
  const who = identity(req);
  const tenantResources = () => [...resources.values()].filter((r) => r.tenant === who.tenant);
  const match = /^\/api\/v1\/resources\/([^/]+)\/?$/.exec(url.pathname);

  if (url.pathname === "/health") return send(res, 200, { status: "ok" });

  if (/^\/api\/v1\/resources\/?$/.test(url.pathname)) {
    if (req.method === "GET" || req.method === "HEAD") return send(res, 200, tenantResources());
    if (req.method === "POST") {
      const body = await readJson(req);
      const resource = {
        id: `res-${randomUUID()}`,
        ...body,
        tenant: who.tenant,
        created_by: who.key_id,
        created_at: Math.floor(Date.now() / 1000),
      };
      resources.set(resource.id, resource);
      return send(res, 201, resource);
    }
  }
  if (match) {
    const resource = resources.get(match[1]);
    if (!resource || resource.tenant !== who.tenant) return send(res, 404, { error: "not_found", error_description: "No such resource" });
    if (req.method === "GET" || req.method === "HEAD") return send(res, 200, resource);
    if (req.method === "PUT" || req.method === "PATCH") {
      Object.assign(resource, await readJson(req), { id: resource.id, tenant: resource.tenant });
      return send(res, 200, resource);
    }
    if (req.method === "DELETE") {
      resources.delete(resource.id);
      return send(res, 204);
    }
  }
  if ((url.pathname === "/api/v1/deploy" || url.pathname === "/deploy") && req.method === "POST") {
    const body = await readJson(req);
    return send(res, 200, {
      status: "deployed",
      environment: body.environment ?? "production",
      version: body.version ?? null,
      deployed_by: who.key_id,
    });
  }
  const body = await readJson(req);
  return send(res, 200, {
    message: "Hello from the keygate demo origin",
    method: req.method,
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    keygate: who,
    body,
  });
});

server.listen(Number(values.port), "127.0.0.1", () => {
  console.error(`demo origin listening on http://127.0.0.1:${server.address().port}`);
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.close(() => process.exit(0)));
