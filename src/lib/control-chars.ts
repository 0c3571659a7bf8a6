/**
 * Control characters (Unicode category Cc: C0, DEL and C1) never reach storage: client input that
 * holds one is refused (src/http/validate.ts), and text keygate derives from a request (a
 * User-Agent, an identity provider's subject) is stored with each one written as `\u001b`. What is
 * stored can then be printed to an administrator's terminal or a log without being interpreted
 * (an ESC starts a terminal escape sequence; CR and LF forge log lines). The console uses this
 * module too; the CLI, which ships without src/, has its own copy in cli/output.mjs.
 */

const CONTROL_CHAR = /\p{Cc}/u;
const CONTROL_CHARS = /\p{Cc}/gu;

export function hasControlChars(text: string): boolean {
  return CONTROL_CHAR.test(text);
}

/** `text` with every control character written as a JSON-style escape (`\u001b`). */
export function escapeControlChars(text: string): string {
  return CONTROL_CHAR.test(text) ? text.replace(CONTROL_CHARS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`) : text;
}
