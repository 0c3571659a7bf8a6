/**
 * Control characters (Unicode general category Cc: U+0000-U+001F and U+007F-U+009F) break logs,
 * terminals and CSV exports, so no stored string may hold one (DESIGN invariant 10). One source for
 * the rule, shared by the zod schemas that enforce it and the OpenAPI document that states it.
 *
 * Spelled with explicit `\xHH` ranges, not `\p{Cc}`: JSON Schema recommends a regex subset without
 * Unicode property escapes, and `\xHH` reads the same in ECMA-262 (with or without the `u` flag),
 * Python's `re` and RE2 (Go), so validators and generated clients in other languages can compile
 * the document's `pattern`. Python's `re` has no `\p`; RE2 has no `\uXXXX`.
 *
 * A leaf module: no imports.
 */

/** The pattern as a string, exactly as it appears in the OpenAPI document. */
export const NO_CONTROL_CHARACTERS_PATTERN = "^[^\\x00-\\x1F\\x7F-\\x9F]*$";

/** Matches a string without control characters. */
export const NO_CONTROL_CHARACTERS = new RegExp(NO_CONTROL_CHARACTERS_PATTERN);

/** Whether `text` holds a control character. */
export function hasControlCharacters(text: string): boolean {
  return !NO_CONTROL_CHARACTERS.test(text);
}
