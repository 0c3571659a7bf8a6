// An Express 5 origin whose routes mirror route-policy.json (wrangler.toml's default ROUTE_POLICY),
// with Express's defaults (case-insensitive, non-strict routing) and method-override honouring the
// three override headers. Each handler answers which policy rule its route mirrors (X-Route), and
// the method and tenant it saw (X-Seen-*). Prints its port on stdout. Run by test/e2e/path-differential.test.ts.
import { readFileSync } from "node:fs";
import express from "express";
import methodOverride from "method-override";

const rules = JSON.parse(readFileSync(new URL("./route-policy.json", import.meta.url), "utf8"));
const ruleName = (r) => `${r.method === "*" ? "*" : [r.method].flat().join(",")} ${r.path}`;
const covers = (r, method) => r.method === "*" || [r.method].flat().includes(method === "HEAD" ? "GET" : method);

const app = express();
for (const header of ["X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"]) app.use(methodOverride(header));

// One route per path pattern, in policy order; within it the first rule for the method wins, as in keygate.
const patterns = [...new Set(rules.map((r) => r.path))];
for (const pattern of patterns) {
  const expressPath = pattern.endsWith("/**") ? `${pattern.slice(0, -3)}{/*rest}` : pattern;
  app.all(expressPath, (req, res, next) => {
    const rule = rules.find((r) => r.path === pattern && covers(r, req.method));
    if (!rule) return next();
    // In headers, so a HEAD answer says it too.
    res.set({ "x-route": ruleName(rule), "x-seen-method": req.method });
    if (req.headers["x-keygate-tenant"] !== undefined) res.set("x-seen-tenant", req.headers["x-keygate-tenant"]);
    res.json({ route: ruleName(rule) });
  });
}
app.use((_req, res) => res.status(404).json({ route: null }));

const server = app.listen(0, "127.0.0.1", () => console.log(server.address().port));
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
