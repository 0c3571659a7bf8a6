// Lets Node import the worker's TypeScript modules (src/) as they are: Node 22.18+ strips types
// itself, and src/ imports siblings without an extension (moduleResolution "bundler"), which this
// hook resolves to the `.ts` file. Only for scripts that reuse the worker's own rules (deploy checks).
import { registerHooks } from "node:module";

registerHooks({
  resolve(specifier, context, nextResolve) {
    const relative = specifier.startsWith("./") || specifier.startsWith("../");
    if (relative && context.parentURL?.endsWith(".ts") && !/\.[cm]?[jt]s$/.test(specifier)) {
      return nextResolve(`${specifier}.ts`, context);
    }
    return nextResolve(specifier, context);
  },
});
