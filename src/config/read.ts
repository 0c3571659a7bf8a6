/**
 * Parse helpers every feature's config section uses: a var is read by its name in the table
 * (./vars.ts), which gives its default, bounds and accepted values, and a bad value is a
 * ConfigError naming it. Sections are parsed once per env object (perEnv) and only when first
 * used, so a broken route policy cannot stop the management API from revoking a leaked key.
 */
import { ConfigError } from "../errors";
import { type EnvVars, VARS, type VarName } from "./vars";

/**
 * Memoizes a parse of `env` per isolate: the runtime hands the same env object to every request.
 * `env` is the vars (EnvVars) unless the parse says it needs bindings too (`(env: Env) => ...`).
 */
export function perEnv<E extends object = EnvVars, T = unknown>(parse: (env: E) => T): (env: E) => T {
  const cache = new WeakMap<E, T>();
  return (env) => {
    let value = cache.get(env);
    if (value === undefined) {
      value = parse(env);
      cache.set(env, value);
    }
    return value;
  };
}

type VarsOf<P> = { [K in VarName]: (typeof VARS)[K] extends P ? K : never }[VarName];
type IntegerVar = VarsOf<{ type: "integer"; default: number; min: number }>;
type BooleanVar = VarsOf<{ type: "boolean"; default: boolean }>;
type EnumVar = VarsOf<{ type: "enum"; values: readonly string[]; default: string }>;
type ValueOf<K extends EnumVar> = (typeof VARS)[K]["values"][number];
type StringWithDefault = VarsOf<{ type: "string"; default: string }>;

/** The trimmed value of a var, or undefined when it is unset or blank. */
export function text(env: EnvVars, name: VarName): string | undefined {
  const raw = env[name];
  return typeof raw === "string" && raw.trim() !== "" ? raw.trim() : undefined;
}

export function required(env: EnvVars, name: VarName): string {
  const value = text(env, name);
  if (value === undefined) throw new ConfigError(`${name} is not set`);
  return value;
}

/** A string var, or its default from the table. */
export function stringVar(env: EnvVars, name: StringWithDefault): string {
  return text(env, name) ?? VARS[name].default;
}

export function integerVar(env: EnvVars, name: IntegerVar): number {
  const spec: { default: number; min: number; max?: number } = VARS[name];
  const raw = env[name];
  if (raw === undefined || raw === "") return spec.default;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < spec.min || (spec.max !== undefined && value > spec.max)) {
    const range = spec.max === undefined ? `>= ${spec.min}` : `from ${spec.min} to ${spec.max}`;
    throw new ConfigError(`${name} must be an integer ${range}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

export function booleanVar(env: EnvVars, name: BooleanVar): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return VARS[name].default;
  if (raw === "true" || raw === "1") return true;
  if (raw === "false" || raw === "0") return false;
  throw new ConfigError(`${name} must be "true" or "false", got ${JSON.stringify(raw)}`);
}

export function enumVar<K extends EnumVar>(env: EnvVars, name: K): ValueOf<K> {
  const spec = VARS[name];
  const value = text(env, name) ?? spec.default;
  if (!(spec.values as readonly string[]).includes(value)) {
    throw new ConfigError(`${name} must be ${spec.values.map((v) => JSON.stringify(v)).join(" or ")}, got ${JSON.stringify(value)}`);
  }
  return value as ValueOf<K>;
}

/** A var that may be a JSON binding (TOML table/array) or JSON text (`--var`, dashboard); undefined when unset. */
export function jsonVar(env: EnvVars, name: VarName): unknown {
  const raw = env[name];
  if (typeof raw !== "string") return raw;
  if (raw.trim() === "") return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    throw new ConfigError(`${name} is not valid JSON`);
  }
}
