/**
 * Reading a request body with the checks every control-plane endpoint shares: a size limit (413),
 * the media types the route accepts (415), and a clear 400 for a body that does not parse. JSON is
 * the default; routes that speak OAuth (introspection, RFC 7662) also take form-encoded bodies.
 */
import { ApiError } from "../errors";

export type BodyMediaType = "application/json" | "application/x-www-form-urlencoded";

/** Management bodies are a few hundred bytes; anything near this is not a key request. */
export const MAX_JSON_BODY_BYTES = 16 * 1024;
const JSON_ONLY: readonly BodyMediaType[] = ["application/json"];
const FORM = "application/x-www-form-urlencoded";

function mediaTypeOf(value: string | null): BodyMediaType | undefined {
  if (value === null) return undefined;
  const type = value.split(";", 1)[0]?.trim().toLowerCase() ?? "";
  if (type === "application/json" || (type.startsWith("application/") && type.endsWith("+json"))) return "application/json";
  return type === FORM ? FORM : undefined;
}

async function readLimited(body: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new ApiError("payload_too_large", `the request body must be at most ${limit} bytes`);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** The body's bytes, or a 413 once it passes `maxBytes` (declared or streamed). */
export async function readBodyBytes(request: Request, maxBytes = MAX_JSON_BODY_BYTES): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) {
    throw new ApiError("payload_too_large", `the request body must be at most ${maxBytes} bytes`);
  }
  return request.body ? readLimited(request.body, maxBytes) : new Uint8Array();
}

/** RFC 6749 §3.2: form parameters must not repeat; each becomes a string field. */
function formFields(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(text)) {
    if (Object.hasOwn(fields, name)) throw new ApiError("invalid_request", `${name} must not be repeated`);
    fields[name] = value;
  }
  return fields;
}

/**
 * The parsed body: JSON, or an object of form fields when the route accepts forms. An absent or
 * empty body yields `undefined` when `optional`, else a 400; a media type the route does not take is a 415.
 */
export function decodeBody(
  bytes: Uint8Array,
  contentType: string | null,
  options: { optional: boolean; mediaTypes?: readonly BodyMediaType[] },
): unknown {
  const accepted = options.mediaTypes ?? JSON_ONLY;
  const text = new TextDecoder().decode(bytes);
  if (text.trim() === "") {
    if (options.optional) return undefined;
    throw new ApiError("invalid_request", accepted === JSON_ONLY ? "a JSON request body is required" : "a request body is required");
  }
  const type = mediaTypeOf(contentType);
  if (type === undefined || !accepted.includes(type)) {
    throw new ApiError("unsupported_media_type", `the request body must be sent with Content-Type: ${accepted.join(" or ")}`);
  }
  if (type === FORM) return formFields(text);
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError("invalid_request", "the request body is not valid JSON");
  }
}
