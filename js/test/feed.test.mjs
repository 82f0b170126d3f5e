// The feed (GET /v1/workflows/{id}/feed: one SSE connection for status, events and streams, then the end) through
// workflow.feed() and useWorkflow, against a real server. These fail until the server has the feed route.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Client } from "../dist/index.js";
import { bundle, launchBrowser, staticServer } from "./browser-support.mjs";
import { startServer } from "./support.mjs";

let server;
let client;
let files;

before(async () => {
  files = await staticServer();
  server = await startServer({ env: { COMM_CORS_ORIGINS: files.origin } });
  client = new Client({ baseUrl: server.url });
});
after(async () => {
  await server?.close();
  await files?.close();
});

async function collect(read, limit = Infinity) {
  const frames = [];
  for await (const frame of read) {
    frames.push(frame);
    if (frames.length >= limit) break;
  }
  return frames;
}

const offsetsOf = (frames, key = "progress_stream") =>
  frames.filter((f) => f.kind === "stream" && f.key === key).map((f) => f.offset);

test("feed: status, events and stream values on one connection, then the end with the output", async () => {
  const wf = await client.start("streaming", { n_steps: 3, step_delay_seconds: 0.05 });
  const read = wf.feed();
  const frames = await collect(read);
  assert.deepEqual(offsetsOf(frames), [0, 1, 2, 3, 4, 5, 6, 7]);
  const kinds = new Set(frames.map((f) => f.kind));
  assert.ok(kinds.has("status") && kinds.has("event"), [...kinds].join());
  const events = frames.filter((f) => f.kind === "event");
  assert.deepEqual(
    events.map((e) => e.version),
    [...events.map((e) => e.version)].sort((a, b) => a - b),
  );
  assert.equal(events.at(-1).value, "completed");
  assert.equal(read.end.kind, "end");
  assert.equal(read.end.status, "SUCCESS");
  assert.equal(read.end.output.total_steps, 3);
  assert.ok(frames.every((f) => typeof f.cursor === "string" && f.cursor.length > 0), "every frame has a cursor");
});

test("feed: callbacks, and a second feed resumed from a cursor neither repeats nor skips", async () => {
  const wf = await client.start("streaming", { n_steps: 4 });
  await wf.result({ timeout: 60 });
  const head = await collect(wf.feed({ status: false, events: ["no_such_event"] }), 4);
  const cursor = head.at(-1).cursor;
  const tail = [];
  const end = await new Promise((resolve, reject) => {
    wf.feed({
      cursor,
      status: false,
      events: ["no_such_event"],
      onStream: (f) => tail.push(f),
      onEvent: (f) => tail.push(f),
      onStatus: (s, f) => tail.push(f),
      onEnd: resolve,
      onError: reject,
    });
  });
  assert.equal(end.status, "SUCCESS");
  assert.deepEqual([...offsetsOf(head), ...offsetsOf(tail)], Array.from({ length: 10 }, (_, i) => i));
});

test("feed filters: only the named streams and events, no status frames", async () => {
  const wf = await client.start("events", { n_steps: 2 });
  await wf.result({ timeout: 60 });
  const frames = await collect(wf.feed({ events: ["progress"], streams: ["no_such_stream"], status: false }));
  assert.ok(frames.length > 0);
  assert.ok(frames.every((f) => f.kind === "event" && f.key === "progress"), JSON.stringify(frames));
});

test("feed after the end: the server answers 204 and the read stops at once", async () => {
  const wf = await client.start("streaming", { n_steps: 1 });
  const read = wf.feed();
  const frames = await collect(read);
  const last = read.end.cursor ?? frames.at(-1).cursor;
  const again = wf.feed({ cursor: last });
  assert.deepEqual(await collect(again), []);
  assert.equal(again.end.kind, "end");
});

test("feed survives a SIGKILL of the server mid-stream", async () => {
  const wf = await client.start("streaming", { n_steps: 10, step_delay_seconds: 0.15 });
  const frames = [];
  let killed = false;
  for await (const frame of wf.feed({ events: ["no_such_event"] })) {
    frames.push(frame);
    if (!killed && offsetsOf(frames).length === 3) {
      killed = true;
      await server.kill();
      await server.start();
    }
  }
  assert.deepEqual(offsetsOf(frames), Array.from({ length: 22 }, (_, i) => i));
});

test("useWorkflow renders status, events, streams and the result in Chromium, and sends once", async () => {
  const browser = await launchBrowser();
  const app = await bundle("hooks-app.mjs");
  try {
    const wf = await client.start("messaging", { n_steps: 1 });
    const page = await browser.newPage();
    const query = new URLSearchParams({ server: server.url, wf: wf.id, app: app.path, view: "workflow" });
    await page.goto(`${files.origin}/js/test/pages/hooks.html?${query}`);
    await page.waitForFunction(
      () => document.getElementById("event-status")?.textContent === "waiting_for_approval" || document.getElementById("error"),
      null,
      { timeout: 60_000 },
    );
    assert.equal(await page.$("#error"), null, `useWorkflow failed: ${await page.textContent("#error").catch(() => "")}`);
    assert.equal(await page.textContent("#status"), "PENDING");
    await page.click("#approve");
    await page.waitForSelector("#result", { timeout: 60_000 });
    const result = JSON.parse(await page.textContent("#result"));
    assert.equal(result.status, "SUCCESS");
    assert.equal(result.output.approval_message, "via useWorkflow");
    assert.equal(await page.textContent("#sent"), "delivered");
    assert.equal(await page.textContent("#status"), "SUCCESS");
  } finally {
    await browser.close();
    app.cleanup();
  }
});
