import { describe, expect, it } from "vitest";
import { requestTarget } from "../../src/http/request-target";

describe("requestTarget", () => {
  it("slices scheme, host, path and query without re-encoding", () => {
    expect(requestTarget("https://api.example.com:8443/a%20b/%7Ec?x=1&y=%2F")).toEqual({
      scheme: "https",
      host: "api.example.com:8443",
      path: "/a%20b/%7Ec",
      pathAndQuery: "/a%20b/%7Ec?x=1&y=%2F",
    });
    expect(requestTarget("http://localhost:3000/")).toEqual({ scheme: "http", host: "localhost:3000", path: "/", pathAndQuery: "/" });
    expect(requestTarget("http://h/p?q=/x")).toEqual({ scheme: "http", host: "h", path: "/p", pathAndQuery: "/p?q=/x" });
    expect(requestTarget("http://h?q=1")).toEqual({ scheme: "http", host: "h", path: "/", pathAndQuery: "/?q=1" });
    expect(requestTarget("http://h/p#frag")).toEqual({ scheme: "http", host: "h", path: "/p", pathAndQuery: "/p" });
  });

  it("agrees with URL on what the runtime hands the worker", () => {
    for (const raw of ["http://localhost:3000/api/v1/resources?limit=5", "https://x.test/%E2%9C%93/..%2F?a=%20", "http://[::1]:8787/v1"]) {
      const url = new URL(raw);
      const t = requestTarget(url.href);
      expect(t.path).toBe(url.pathname);
      expect(t.pathAndQuery).toBe(url.pathname + url.search);
      expect(t.host).toBe(url.host);
      expect(`${t.scheme}:`).toBe(url.protocol);
    }
  });
});
