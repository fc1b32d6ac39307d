// The TypeScript SDK's experimental tasks client (2025-11-25) running one tool call as a task against the
// server at argv[2]; prints each message of callToolStream as one JSON line. Run from a directory where
// @modelcontextprotocol/sdk is installed.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, name, args] = process.argv.slice(2);
const client = new Client({ name: "ts-tasks", version: "0" }, { capabilities: {} });
await client.connect(new StreamableHTTPClientTransport(new URL(url)));
const out = (line) => process.stdout.write(JSON.stringify(line) + "\n");
out({ type: "version", version: client.getServerVersion()?.name, capabilities: client.getServerCapabilities() });
const tools = await client.listTools();
out({ type: "tools", execution: tools.tools.find((tool) => tool.name === name)?.execution ?? null });
for await (const message of client.experimental.tasks.callToolStream({ name, arguments: JSON.parse(args) })) {
  out(message.type === "error" ? { type: "error", error: String(message.error) } : message);
}
await client.close();
