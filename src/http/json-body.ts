/** Reading a JSON request body with the checks every management endpoint shares. */
import { ApiError } from "../errors";

/** Management bodies are a few hundred bytes; anything near this is not a key request. */
export const MAX_JSON_BODY_BYTES = 16 * 1024;

function isJsonContentType(value: string | null): boolean {
  if (value === null) return false;
  const type = value.split(";", 1)[0]?.trim().toLowerCase() ?? "";
  return type === "application/json" || (type.startsWith("application/") && type.endsWith("+json"));
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

/**
 * The parsed JSON body. An absent or empty body yields `undefined` when `optional`, else a 400.
 * A body that is not `application/json` is a 415, one over the limit a 413.
 */
export async function readJsonBody(request: Request, options: { optional: boolean }): Promise<unknown> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > MAX_JSON_BODY_BYTES) {
    throw new ApiError("payload_too_large", `the request body must be at most ${MAX_JSON_BODY_BYTES} bytes`);
  }
  const bytes = request.body ? await readLimited(request.body, MAX_JSON_BODY_BYTES) : new Uint8Array();
  const text = new TextDecoder().decode(bytes);
  if (text.trim() === "") {
    if (options.optional) return undefined;
    throw new ApiError("invalid_request", "a JSON request body is required");
  }
  if (!isJsonContentType(request.headers.get("content-type"))) {
    throw new ApiError("unsupported_media_type", "the request body must be sent with Content-Type: application/json");
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError("invalid_request", "the request body is not valid JSON");
  }
}
