/**
 * Runs in Node before the workerd tests: starts a real origin on 127.0.0.1 (a free port) for the
 * gateway tests and provides its URL to the pool configuration.
 */
import type { TestProject } from "vitest/node";
import { startTestOrigin } from "./helpers/test-origin";

export default async function setup(project: TestProject) {
  const origin = await startTestOrigin();
  project.provide("originUrl", origin.url);
  return async () => {
    await origin.close();
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    originUrl: string;
  }
}
