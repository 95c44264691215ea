#!/usr/bin/env node
// Publishes a command to a cmdrelay channel, waits for the game servers' acks and
// prints their results. Node 18 or later (built-in fetch), no packages.
//
//   CMDRELAY_URL=https://relay.example.com CMDRELAY_KEY=... \
//       node publish.mjs game-1 announce '{"text": "Server restart in 5 minutes"}'
//
// CMDRELAY_MODE=queue runs it on exactly one server instead of all of them;
// CMDRELAY_TIMEOUT (seconds, default 15) bounds the wait. Exits 0 when every
// expected ack arrived, 2 when the wait ran out first.

const [channel, name, dataText = "null"] = process.argv.slice(2);
const { CMDRELAY_URL: url, CMDRELAY_KEY: key } = process.env;
const mode = process.env.CMDRELAY_MODE ?? "broadcast";
const timeout = Number(process.env.CMDRELAY_TIMEOUT ?? 15);
if (name === undefined || !url || !key) {
  console.error("usage: CMDRELAY_URL=... CMDRELAY_KEY=... node publish.mjs CHANNEL NAME [DATA_JSON]");
  process.exit(64);
}
const base = `${url.replace(/\/+$/, "")}/v1/channels/${channel}`;

// The key goes in a header, never in the URL.
async function api(path, body) {
  const response = await fetch(base + path, {
    method: body === undefined ? "GET" : "POST",
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json = {};
  try {
    json = JSON.parse(text);
  } catch {
    // an error page from a proxy in front of the relay
  }
  if (!response.ok) {
    console.error(`${response.status} ${json.error?.code ?? ""}: ${json.error?.message ?? text.slice(0, 200)}`);
    process.exit(1);
  }
  return json;
}

const published = await api("/commands", { name, data: JSON.parse(dataText), mode });
const id = published.commands[0].id;
console.log(`published ${mode} command ${id} (${name}) to ${channel}`);

// A queue command is done once; a broadcast is acked by every server polling the
// channel, which is every consumer the relay saw in the last minute.
let expected = 1;
if (mode !== "queue") {
  const { consumers } = await api("/consumers");
  expected = consumers.filter((c) => Date.parse(c.last_seen) > Date.now() - 60_000).length;
}
if (expected === 0) {
  console.error(`no game server polled ${channel} in the last minute; nothing to wait for`);
  process.exit(2);
}
console.log(`waiting up to ${timeout}s for ${expected} ack(s)`);

const deadline = Date.now() + timeout * 1000;
let command;
for (;;) {
  ({ command } = await api(`/commands/${id}`));
  if (command.acks.length >= expected || command.state === "dead" || Date.now() >= deadline) break;
  await new Promise((resolve) => setTimeout(resolve, 500));
}
for (const ack of command.acks) {
  console.log(`${ack.consumer}  ${ack.acked_at}  ${JSON.stringify(ack.result)}`);
}
console.log(`${command.acks.length} of ${expected} acked; state ${command.state}`);
process.exit(command.acks.length >= expected ? 0 : 2);
