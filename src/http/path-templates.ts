/** Route path templates ("/api/v1/tenant/{tenant}/api-keys/{id}"): Hono paths, parameter names, one matcher. */

/** "/a/{x}/b" -> "/a/:x/b" */
export function honoPath(template: string): string {
  return template.replace(/\{(\w+)\}/g, ":$1");
}

/** Names of the path parameters of a template, in order. */
export function pathParams(template: string): string[] {
  return [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string);
}

/** One regular expression matching any of the templates (a parameter is one non-empty segment; a trailing slash is allowed). */
export function pathMatcher(templates: readonly string[]): RegExp {
  const alternatives = [...new Set(templates)].map((t) =>
    t
      .split(/\{\w+\}/)
      .map((literal) => literal.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
      .join("[^/]+"),
  );
  return new RegExp(`^(?:${alternatives.join("|")})/?$`);
}
