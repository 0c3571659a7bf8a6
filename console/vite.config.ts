/**
 * Builds the console into build/console/ (served at /console by the worker through Workers static
 * assets), and the API reference page (api-docs.html, served at /api/v1/docs). No inline script or
 * style ends up in either page: both run under a CSP of 'self'.
 */
import { createHash } from "node:crypto";
import path from "node:path";
import { defineConfig, type Plugin } from "vite";

const BASE = "/console/";

/**
 * Moves `url(data:...)` images out of the bundled CSS into files of their own: the CSP's img-src
 * is 'self' only, and Swagger UI's stylesheet draws its icons with data: URLs.
 */
function dataUrlsToFiles(): Plugin {
  return {
    name: "keygate:data-urls-to-files",
    apply: "build",
    generateBundle(_options, bundle) {
      for (const asset of Object.values(bundle)) {
        if (asset.type !== "asset" || !asset.fileName.endsWith(".css")) continue;
        const css = typeof asset.source === "string" ? asset.source : new TextDecoder().decode(asset.source);
        asset.source = css.replace(
          /url\((["']?)data:([\w.+-]+\/[\w.+-]+)((?:;[\w-]+=[\w-]+)*)(;base64)?,(.*?)\1\)/g,
          (_m, _q, type, _p, b64, data) => {
            const bytes = b64 ? Buffer.from(data, "base64") : Buffer.from(decodeURIComponent(data.replace(/\\(["'])/g, "$1")), "utf8");
            const ext = { "image/svg+xml": "svg", "image/png": "png", "image/jpeg": "jpg", "image/gif": "gif" }[type as string] ?? "bin";
            const fileName = `assets/inline-${createHash("sha256").update(bytes).digest("hex").slice(0, 12)}.${ext}`;
            if (!bundle[fileName]) this.emitFile({ type: "asset", fileName, source: bytes });
            return `url(${BASE}${fileName})`;
          },
        );
      }
    },
  };
}

export default defineConfig({
  root: import.meta.dirname,
  base: BASE,
  publicDir: "public",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  plugins: [dataUrlsToFiles()],
  build: {
    outDir: "build/console",
    emptyOutDir: true,
    target: "es2022",
    // The polyfill is injected inline; every browser the console supports has modulepreload.
    modulePreload: { polyfill: false },
    // Never inline assets as data: URLs (the CSP allows only 'self').
    assetsInlineLimit: 0,
    reportCompressedSize: false,
    // Swagger UI alone is about 1.5 MB of script; it loads only on the API reference page.
    chunkSizeWarningLimit: 2048,
    rolldownOptions: {
      input: { console: path.join(import.meta.dirname, "index.html"), "api-docs": path.join(import.meta.dirname, "api-docs.html") },
    },
  },
});
