// Local SQS emulator for the ore-masora development stack.
//
// Usage: node server.mjs PORT
//
// Listens on 127.0.0.1:PORT only (the fauxqs CLI would bind 0.0.0.0). Started and stopped by
// `go run ./tools/cmd/stack up|down`; exits cleanly on SIGTERM or SIGINT.
import { buildApp } from "fauxqs";

const port = Number.parseInt(process.argv[2] ?? "", 10);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`usage: node server.mjs PORT (got ${JSON.stringify(process.argv[2] ?? "")})`);
  process.exit(2);
}

const app = buildApp({ logger: false, defaultRegion: "us-east-1" });

let closing = false;
async function shutdown(signal) {
  if (closing) return;
  closing = true;
  console.log(`fauxqs: ${signal} received, closing`);
  try {
    await app.close();
    process.exit(0);
  } catch (err) {
    console.error(`fauxqs: close failed: ${err?.stack ?? err}`);
    process.exit(1);
  }
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));

try {
  await app.listen({ port, host: "127.0.0.1" });
} catch (err) {
  console.error(`fauxqs: listen on 127.0.0.1:${port} failed: ${err?.stack ?? err}`);
  process.exit(1);
}
console.log(`fauxqs: listening on http://127.0.0.1:${port}`);
