/**
 * `npm run dev` under large bodies: wrangler 4.86's dev server opened ~17,000 loopback sockets for
 * one 10 MiB response and wedged on the second ("Too many open files"), and answered a 10 MiB
 * upload sent with `Expect: 100-continue` (what curl --data-binary does) with 503 "Your worker
 * restarted mid-request". Here both go through the real dev server twice, then 20 more requests,
 * and the dev server's descriptors must come back near where they started.
 */
import { createHash } from "node:crypto";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../helpers/eventually";
import { startTestOrigin, type TestOrigin } from "../helpers/test-origin";
import { type Keygate, startKeygate } from "./harness";

const SIZE_BYTES = 10 * 1024 * 1024;
/** Descriptors a dev server may hold beyond its idle count once the large bodies are done (pooled keep-alive sockets). */
const DESCRIPTOR_SLACK = 40;

let origin: TestOrigin;
let kg: Keygate;
let apiKey: string;

beforeAll(async () => {
  origin = await startTestOrigin();
  kg = await startKeygate({ vars: { ORIGIN_URL: origin.url } });
  const user = await kg.userToken(["bulk"]);
  const res = await fetch(`${kg.url}/api/v1/tenant/bulk/api-keys/create`, {
    method: "POST",
    headers: { authorization: `Bearer ${user}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "large bodies", scopes: ["api:read", "api:write"], expires_in_days: 1 }),
  });
  expect(res.status, kg.logs()).toBe(201);
  apiKey = ((await res.json()) as { api_key: string }).api_key;
});

afterAll(async () => {
  await kg?.stop();
  await origin?.close();
});

/** POST with `Expect: 100-continue`: the body goes only after the server's 100 Continue, as curl sends it. */
function uploadExpectingContinue(
  url: string,
  body: Buffer,
): Promise<{ status: number; json: { body: { bytes: number; sha256: string } } }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: "POST",
      headers: {
        authorization: `Bearer ${apiKey}`,
        "content-type": "application/octet-stream",
        "content-length": String(body.length),
        expect: "100-continue",
      },
    });
    req.on("continue", () => req.end(body));
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        try {
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) });
        } catch {
          reject(new Error(`${res.statusCode}: ${text.slice(0, 300)}`));
        }
      });
    });
    req.on("error", reject);
  });
}

describe("npm run dev with large bodies", () => {
  it("takes 10 MiB up (Expect: 100-continue) and 10 MiB down twice, keeps answering, and gives its descriptors back", async () => {
    const data = Buffer.alloc(SIZE_BYTES);
    for (let i = 0; i < SIZE_BYTES; i++) data[i] = (i * 31 + 7) & 0xff;
    const sha256 = createHash("sha256").update(data).digest("hex");
    expect((await fetch(`${kg.url}/.well-known/jwks.json`)).status).toBe(200);
    const idle = kg.openDescriptors();
    expect(idle).toBeGreaterThan(0);

    let peak = idle;
    for (let round = 0; round < 2; round++) {
      const up = await uploadExpectingContinue(`${kg.url}/api/v1/resources/upload`, data);
      expect(up.status, kg.logs().slice(-2000)).toBe(200);
      expect(up.json.body).toMatchObject({ bytes: SIZE_BYTES, sha256 });

      const down = await fetch(`${kg.url}/download?bytes=${SIZE_BYTES}`, { headers: { authorization: `Bearer ${apiKey}` } });
      expect(down.status).toBe(200);
      expect((await down.arrayBuffer()).byteLength).toBe(SIZE_BYTES);
      peak = Math.max(peak, kg.openDescriptors());
    }

    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${kg.url}/.well-known/jwks.json`);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    const after = await eventually(
      async () => kg.openDescriptors(),
      (n) => n <= idle + DESCRIPTOR_SLACK,
      20_000,
    );
    expect(after, `idle ${idle}, peak ${peak}, after ${after}`).toBeLessThanOrEqual(idle + DESCRIPTOR_SLACK);
  });
});
