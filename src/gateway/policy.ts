/**
 * The declarative route policy: method + path pattern -> what a request needs.
 *
 * Rules are matched against the segments of src/gateway/path-contract.ts: percent-decoded, of a path
 * that has already been refused if an origin could read it another way. So `/api/v1/%72esources`
 * meets the rule of `/api/v1/resources`, as a decoding origin (Werkzeug) would route it. Letter case
 * is matched twice (routeRule): folded, as a case-insensitive origin (Express) routes, and as sent,
 * as a case-sensitive one (Werkzeug) does; a path for which the two pick different rules is refused.
 */

import type { VARS } from "../config/vars";
import { DEFAULT_ROUTE_COST, ROUTE_COST_MAX } from "../vocab/quotas.mjs";
import { foldAscii } from "./path-contract";

/** UNMATCHED_ROUTES's values (src/config/vars.ts). */
export type UnmatchedRoutes = (typeof VARS.UNMATCHED_ROUTES.values)[number];

/**
 * What a rule asks of a request; `rule` names the rule ("GET /api/v1/resources/**") for usage
 * analytics; `cost` is what a request spends from each rate limit and quota it counts against
 * (DEFAULT_ROUTE_COST when the rule sets none; 0 never touches a counter).
 */
export type Requirement = { rule: string; cost?: number } & (
  | { kind: "public" }
  | { kind: "authenticated" }
  | { kind: "scopes"; scopes: readonly string[]; challenge: string }
);

/** The rule of requests no rule matches (UNMATCHED_ROUTES = "authenticate"). */
export const UNMATCHED_RULE = "(unmatched)";

interface CompiledRule {
  methods: ReadonlySet<string> | null; // null = any method
  segments: readonly string[]; // literal (A-Z folded), "*" (one segment) or "**" (the rest, last only)
  asWritten: readonly string[]; // the same, literals in the case the rule has them
  requirement: Requirement;
}

export interface CompiledPolicy {
  rules: readonly CompiledRule[];
  /** Some literal of some rule has an upper-case letter (so even a lower-case path is matched twice). */
  upperCaseLiterals: boolean;
  /** Every scope some rule requires (checked against the scope catalog at load). */
  scopes: ReadonlySet<string>;
}

const RULE_FIELDS = new Set(["method", "path", "scopes", "public", "cost"]);

/** What a request of this requirement spends from each counter. */
export function costOf(requirement: Requirement): number {
  return requirement.cost ?? DEFAULT_ROUTE_COST;
}
const METHOD_PATTERN = /^[A-Z]+$/;

function parseMethods(value: unknown, where: string): ReadonlySet<string> | null {
  if (value === undefined || value === "*") return null;
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.length === 0) throw new Error(`${where}.method must be a method, an array of methods or "*"`);
  const methods = new Set<string>();
  for (const m of list) {
    if (m === "*") return null;
    if (typeof m !== "string" || !METHOD_PATTERN.test(m.toUpperCase()))
      throw new Error(`${where}.method has an invalid method ${JSON.stringify(m)}`);
    methods.add(m.toUpperCase());
  }
  // HEAD is GET without a body (RFC 9110 §9.3.2): a GET rule governs it too.
  if (methods.has("GET")) methods.add("HEAD");
  return methods;
}

function parsePath(value: unknown, where: string): string[] {
  if (typeof value !== "string" || !value.startsWith("/")) throw new Error(`${where}.path must be a string starting with "/"`);
  const segments = value.split("/").filter((s) => s !== "");
  segments.forEach((segment, i) => {
    if (segment === "**" && i !== segments.length - 1) throw new Error(`${where}.path: "**" may only be the last segment`);
    if (segment.includes("*") && segment !== "*" && segment !== "**") throw new Error(`${where}.path: "*" must be a whole segment`);
  });
  // ":name" is a readable alias for "*".
  return segments.map((s) => (s.startsWith(":") ? "*" : s));
}

export function compilePolicy(raw: unknown): CompiledPolicy {
  if (!Array.isArray(raw)) throw new Error("must be an array of rules");
  const scopes = new Set<string>();
  const rules = raw.map((entry, index): CompiledRule => {
    const where = `rule[${index}]`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) throw new Error(`${where} must be an object`);
    const unknown = Object.keys(entry).filter((k) => !RULE_FIELDS.has(k));
    if (unknown.length > 0) throw new Error(`${where} has unknown field(s) ${unknown.join(", ")}`);
    const r = entry as Record<string, unknown>;
    if (r.public !== undefined && typeof r.public !== "boolean") throw new Error(`${where}.public must be a boolean`);
    const methods = parseMethods(r.method, where);
    const rule = `${methods === null ? "*" : [...methods].filter((m) => m !== "HEAD" || !methods.has("GET")).join(",")} ${String(r.path)}`;
    let requirement: Requirement = { kind: "authenticated", rule };
    if (r.scopes !== undefined) {
      if (!Array.isArray(r.scopes) || r.scopes.some((s) => typeof s !== "string" || s === "")) {
        throw new Error(`${where}.scopes must be an array of scope names`);
      }
      if (r.public === true) throw new Error(`${where} cannot be public and require scopes`);
      const list = [...new Set(r.scopes as string[])];
      for (const s of list) scopes.add(s);
      if (list.length > 0) requirement = { kind: "scopes", scopes: list, challenge: list.join(" "), rule };
    }
    if (r.public === true) requirement = { kind: "public", rule };
    if (r.cost !== undefined) {
      if (typeof r.cost !== "number" || !Number.isInteger(r.cost) || r.cost < 0 || r.cost > ROUTE_COST_MAX) {
        throw new Error(`${where}.cost must be an integer from 0 to ${ROUTE_COST_MAX}`);
      }
      if (r.public === true) throw new Error(`${where} cannot be public and have a cost (a public request has no key to count against)`);
      if (r.cost !== DEFAULT_ROUTE_COST) requirement = { ...requirement, cost: r.cost };
    }
    const asWritten = parsePath(r.path, where);
    return { methods, segments: asWritten.map(foldAscii), asWritten, requirement };
  });
  return { rules, scopes, upperCaseLiterals: rules.some((r) => r.asWritten.some((s) => /[A-Z]/.test(s))) };
}

function segmentsMatch(pattern: readonly string[], path: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p === "**") return true;
    if (i >= path.length) return false;
    if (p !== "*" && p !== path[i]) return false;
  }
  return pattern.length === path.length;
}

/**
 * First matching rule's requirement, or null when no rule matches: the folded path against the
 * folded rules, or with `asSent`, the path as sent against the rules as written.
 */
export function matchPolicy(policy: CompiledPolicy, method: string, path: readonly string[], asSent = false): Requirement | null {
  for (const rule of policy.rules) {
    if (rule.methods !== null && !rule.methods.has(method)) continue;
    if (segmentsMatch(asSent ? rule.asWritten : rule.segments, path)) return rule.requirement;
  }
  return null;
}

/** The rule's requirement matched both ways; "case-ambiguous" when they differ (the path is refused). */
export function routeRule(
  policy: CompiledPolicy,
  method: string,
  path: { segments: readonly string[]; asSent: readonly string[] },
): Requirement | null | "case-ambiguous" {
  const folded = matchPolicy(policy, method, path.segments);
  if (path.asSent === path.segments && !policy.upperCaseLiterals) return folded;
  return matchPolicy(policy, method, path.asSent, true) === folded ? folded : "case-ambiguous";
}
