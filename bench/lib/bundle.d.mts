/** Types for the part of bundle.mjs that tests use (plain ESM run by Node without a build step). */
export interface WranglerConfig {
  name: string;
  main: string;
  compatibility_date: string;
  compatibility_flags: string[];
  vars: Record<string, unknown>;
  d1_databases: { binding: string }[];
  kv_namespaces: { binding: string }[];
  durable_objects: { name: string; class_name: string }[];
  queues: { producers?: { binding: string; queue: string }[] };
  ratelimits: { name: string; simple: { limit: number; period: number } }[];
  migrations: { file: string; statements: string[] }[];
  workerOptions: Record<string, unknown>;
}
/** wrangler.toml as wrangler reads it, miniflare worker options for its bindings, and the split D1 migrations. */
export function readWranglerConfig(): Promise<WranglerConfig>;
