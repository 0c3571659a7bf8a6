// The bench origin: a tiny keep-alive HTTP server on 127.0.0.1 that answers {"ok":true} and counts
// what it served. Runs in its own process (forked by bench/run.mjs, IPC channel) so that it does
// not share an event loop with autocannon. Messages: {cmd:"count"} -> {count}, {cmd:"stop"}.
import { createServer } from "node:http";

const BODY = Buffer.from('{"ok":true}');
const HEADERS = { "content-type": "application/json", "content-length": String(BODY.length) };

let count = 0;
const server = createServer({ keepAlive: true }, (req, res) => {
  count++;
  // Drain any request body (POSTs in the pass-through scenarios) before answering.
  if (req.method === "GET" || req.method === "HEAD") {
    res.writeHead(200, HEADERS);
    res.end(BODY);
    return;
  }
  req.resume();
  req.on("end", () => {
    res.writeHead(200, HEADERS);
    res.end(BODY);
  });
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 65_000;
server.maxRequestsPerSocket = 0;

function stop() {
  server.closeAllConnections();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}

process.on("message", (msg) => {
  if (msg?.cmd === "count") process.send({ id: msg.id, count });
  else if (msg?.cmd === "stop") stop();
});
// The parent went away (crash, SIGKILL): do not linger.
process.on("disconnect", stop);
process.on("SIGTERM", stop);
process.on("SIGINT", () => {}); // the parent handles Ctrl-C and stops us explicitly

server.listen(0, "127.0.0.1", () => {
  process.send({ ready: true, port: server.address().port });
});
