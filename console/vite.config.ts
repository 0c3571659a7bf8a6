/**
 * Builds the console into build/console/ (served at /console by the worker through Workers static
 * assets). No inline script or style ends up in index.html: the page runs under a CSP of 'self'.
 */
import { defineConfig } from "vite";

export default defineConfig({
  root: import.meta.dirname,
  base: "/console/",
  publicDir: "public",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "build/console",
    emptyOutDir: true,
    target: "es2022",
    // The polyfill is injected inline; every browser the console supports has modulepreload.
    modulePreload: { polyfill: false },
    // Never inline assets as data: URLs (the CSP allows only 'self').
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
});
