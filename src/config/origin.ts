/** The origin keygate forwards to. */
import { ConfigError } from "../errors";
import { perEnv, required } from "./read";

/** ORIGIN_URL, parsed once: http(s), no query or fragment. The gateway and the identity assertion both read it. */
export const originUrl = perEnv((env): URL => {
  const originRaw = required(env, "ORIGIN_URL");
  let origin: URL;
  try {
    origin = new URL(originRaw);
  } catch {
    throw new ConfigError("ORIGIN_URL is not a URL");
  }
  if (origin.protocol !== "http:" && origin.protocol !== "https:") throw new ConfigError("ORIGIN_URL must be http(s)");
  if (origin.search || origin.hash) throw new ConfigError("ORIGIN_URL must not have a query or fragment");
  return origin;
});
