#!/usr/bin/env node
// @ts-check
// The `keygate` executable (package.json "bin"): see cli/main.mjs.
import { main } from "../cli/main.mjs";

// `keygate keys list | head -1` closes stdout early; that is not an error.
process.stdout.on("error", (err) => {
  if (/** @type {NodeJS.ErrnoException} */ (err).code === "EPIPE") process.exit(0);
  throw err;
});
process.exitCode = await main(process.argv);
