/**
 * The OpenAPI document (src/openapi/document.ts) derives from the route table: every route is one
 * operation under its path and method, with its error responses, and nothing else is in it.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { errorCodesOf } from "../../src/routes/spec";
import { openApiDocument, ROUTES } from "../../src/routes/table";

interface Operation {
  operationId?: string;
  responses: Record<string, unknown>;
}

describe("the OpenAPI document", () => {
  const doc = openApiDocument(env) as { paths: Record<string, Record<string, Operation>> };

  it("has exactly one operation per route of the table", () => {
    const fromTable = ROUTES.map((r) => `${r.method} ${r.path}`).sort();
    const fromDoc = Object.entries(doc.paths)
      .flatMap(([path, ops]) =>
        Object.keys(ops)
          .filter((k) => !k.startsWith("x-") && k !== "parameters")
          .map((m) => `${m.toUpperCase()} ${path}`),
      )
      .sort();
    expect(fromDoc).toEqual(fromTable);
  });

  it("documents a response for every error a route can answer with", () => {
    for (const route of ROUTES) {
      const op = doc.paths[route.path]?.[route.method.toLowerCase()] as Operation;
      const documented = JSON.stringify(op.responses);
      for (const code of errorCodesOf(route)) expect(documented, `${route.method} ${route.path}: ${code}`).toContain(code);
    }
  });
});
