/**
 * Who sent a control-plane request, as the audit log records it: CF-Connecting-IP (set by
 * Cloudflare, so trustworthy in a deployment, but any text in `wrangler dev`) and the User-Agent
 * (whatever the client says), bounded and with control characters escaped before they are stored.
 */
import { escapeControlCharacters } from "../lib/escape-control-characters";

export const USER_AGENT_MAX_LENGTH = 512;
/** Longer than any IPv6 address text. */
const IP_MAX_LENGTH = 64;

export interface RequestClient {
  ip: string | null;
  userAgent: string | null;
}

export function requestClient(headers: Headers): RequestClient {
  const ip = headers.get("cf-connecting-ip");
  const userAgent = headers.get("user-agent");
  return {
    ip: ip === null ? null : escapeControlCharacters(ip.slice(0, IP_MAX_LENGTH)),
    userAgent: userAgent === null ? null : escapeControlCharacters(userAgent).slice(0, USER_AGENT_MAX_LENGTH),
  };
}
