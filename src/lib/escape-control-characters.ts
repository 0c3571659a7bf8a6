/**
 * Control characters (src/lib/control-characters.ts: the one definition) written as `\u001b`, for
 * text keygate derives from a request (a User-Agent, an identity provider's subject) and stores,
 * and for what the console shows: printed to an administrator's terminal or a log, the text is
 * never interpreted (an ESC starts a terminal escape sequence; CR and LF forge log lines). The CLI,
 * which ships without src/, has its own copy in cli/output.mjs.
 */
import { NO_CONTROL_CHARACTERS_PATTERN } from "./control-characters";

/** One control character: the pattern's negated class, "^[^...]*$" -> "[...]". */
const CONTROL_CHARACTER = new RegExp(NO_CONTROL_CHARACTERS_PATTERN.replace(/^\^\[\^(.*)\]\*\$$/, "[$1]"), "g");

/** `text` with every control character written as a JSON-style escape (`\u001b`). */
export function escapeControlCharacters(text: string): string {
  return text.replace(CONTROL_CHARACTER, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
