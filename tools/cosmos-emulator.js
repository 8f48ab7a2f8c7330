#!/usr/bin/env node
// @vercel/cosmosdb-server with keep-alive connections (its CLI closes each connection: ~49 ms/op vs ~4 ms/op).
// Usage: node tools/cosmos-emulator.js PORT [HOST]   — prints "listening PORT" once ready.
const { createHttpsServer } = require("@vercel/cosmosdb-server");
const port = parseInt(process.argv[2] || "0", 10);
const host = process.argv[3] || "127.0.0.1";
const server = createHttpsServer({ keepAlive: true }).listen(port, host, () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
