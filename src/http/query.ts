import type * as z from "zod/mini";

function isIntegerSchema(schema: z.ZodMiniType): boolean {
  let def = schema._zod.def as { type: string; innerType?: z.ZodMiniType };
  while ((def.type === "optional" || def.type === "default") && def.innerType) def = def.innerType._zod.def as typeof def;
  return def.type === "number";
}

const integerFields = new WeakMap<z.ZodMiniType, ReadonlySet<string>>();

/**
 * The query object for `schema`: empty parameters count as absent, integer fields are read from
 * decimal digits (anything else stays a string, so the schema's own message names the field).
 */
export function queryInput(schema: z.ZodMiniType, params: URLSearchParams): Record<string, unknown> {
  let numeric = integerFields.get(schema);
  if (!numeric) {
    const shape = (schema._zod.def as { shape?: Record<string, z.ZodMiniType> }).shape ?? {};
    numeric = new Set(Object.keys(shape).filter((k) => isIntegerSchema(shape[k] as z.ZodMiniType)));
    integerFields.set(schema, numeric);
  }
  const input: Record<string, unknown> = {};
  for (const [name, value] of params) {
    if (value === "" || name in input) continue;
    input[name] = numeric.has(name) && /^\d{1,16}$/.test(value) ? Number(value) : value;
  }
  return input;
}
