// The client against a real `python server.py` (API keys configured): every route the client wraps, typed errors,
// live reads (iterator and callback forms, offsets, resume across a SIGKILL of the server), read tokens.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  ApiError,
  Client,
  EventNotFound,
  NotFound,
  TokenExpired,
  Unauthorized,
  UnknownWorkflowType,
  ValidationFailed,
  WorkflowNotFound,
} from "../dist/index.js";
import { startServer, uid } from "./support.mjs";

const KEY = "js-test-key";
let server;
let client;

before(async () => {
  server = await startServer({ env: { COMM_API_KEYS: KEY } });
  client = new Client({ baseUrl: server.url, apiKey: KEY });
});
after(async () => {
  await server?.close();
});

async function collect(read) {
  const items = [];
  for await (const item of read) items.push(item);
  return items;
}

describe("workflows", () => {
  test("start is idempotent per workflow id and reports whether it created", async () => {
    const id = uid("start");
    const first = await client.start("streaming", { n_steps: 1 }, { workflowId: id });
    assert.equal(first.id, id);
    assert.equal(first.created, true);
    assert.equal(first.info.type, "streaming");
    const again = await client.start("streaming", { n_steps: 1 }, { workflowId: id });
    assert.equal(again.created, false);
    const result = await first.result({ timeout: 60 });
    assert.equal(result.done, true);
    assert.equal(result.status, "SUCCESS");
    assert.equal(result.output.total_steps, 1);
    assert.equal((await client.workflow(id).status()).status, "SUCCESS");
  });

  test("result answers done: false when the wait ends first", async () => {
    const wf = await client.start("messaging", { n_steps: 1 });
    const result = await wf.result({ timeout: 0.2 });
    assert.equal(result.done, false);
    await wf.cancel();
  });

  test("errors are typed classes carrying the server's code", async () => {
    await assert.rejects(client.workflow("no-such-workflow").status(), (e) => {
      assert.ok(e instanceof WorkflowNotFound && e instanceof NotFound && e instanceof ApiError);
      assert.equal(e.code, "workflow_not_found");
      assert.equal(e.status, 404);
      assert.equal(e.details.workflow_id, "no-such-workflow");
      assert.equal(e.name, "WorkflowNotFound");
      return true;
    });
    await assert.rejects(client.start("streaming", { n_steps: "many" }), (e) => {
      assert.ok(e instanceof ValidationFailed);
      assert.equal(e.code, "validation_error");
      assert.ok(Array.isArray(e.details.errors) && e.details.errors.length > 0);
      return true;
    });
    await assert.rejects(client.start("no_such_type", {}), UnknownWorkflowType);
    const anonymous = new Client({ baseUrl: server.url });
    await assert.rejects(anonymous.workflow("x").status(), (e) => e instanceof Unauthorized && e.code === "unauthorized");
  });

  test("workflowTypes lists input and output schemas", async () => {
    const types = await client.workflowTypes();
    const summarize = types.find((t) => t.type === "summarize");
    assert.ok(summarize);
    assert.deepEqual(summarize.input_schema.required, ["text"]);
    assert.equal(summarize.output_schema.type, "object");
  });
});

describe("events", () => {
  test("event waits for a key, newer than a version; EventNotFound says why", async () => {
    const wf = await client.start("messaging", { n_steps: 1 });
    const status = await wf.event("status", { timeout: 30 });
    assert.equal(status.value, "waiting_for_approval");
    assert.equal(typeof status.version, "number");
    await assert.rejects(wf.event("status", { timeout: 0.1, afterVersion: status.version }), (e) => {
      assert.ok(e instanceof EventNotFound);
      assert.equal(e.details.reason, "timeout");
      return true;
    });
    const snapshot = await wf.events();
    assert.equal(snapshot.events.status.value, "waiting_for_approval");
    await wf.send("notification", { approved: true, message: "ok" });
    const newer = await wf.event("status", { timeout: 30, afterVersion: status.version });
    assert.ok(newer.version > status.version);
    await wf.result({ timeout: 60 });
    await assert.rejects(wf.event("never_set", { timeout: 5 }), (e) => e.details.reason === "workflow_finished");
  });

  test("watchEvents delivers current values, then changes, then the end", async () => {
    const wf = await client.start("events", { n_steps: 2 });
    const read = wf.watchEvents();
    const seen = await collect(read);
    const versions = seen.map((e) => e.version);
    assert.deepEqual(versions, [...versions].sort((a, b) => a - b));
    assert.equal(new Set(versions).size, versions.length);
    assert.equal(seen.at(-1).key === "status" || seen.some((e) => e.key === "result"), true);
    assert.equal(read.end.reason, "workflow_finished");
    assert.equal(read.end.workflow_status, "SUCCESS");
  });
});

describe("streams", () => {
  test("stream: async iterator from an offset, then the end", async () => {
    const wf = await client.start("streaming", { n_steps: 3 });
    const read = wf.stream("progress_stream", { offset: 2 });
    const items = await collect(read);
    assert.deepEqual(
      items.map((i) => i.offset),
      [2, 3, 4, 5, 6, 7],
    );
    assert.equal(items.at(-1).value.type, "complete");
    assert.equal(read.end.reason, "closed");
    assert.equal(read.end.next_offset, 8);
  });

  test("stream: callback form, and close() stops it", async () => {
    const wf = await client.start("streaming", { n_steps: 2 });
    const items = [];
    const end = await new Promise((resolve, reject) => {
      wf.stream("progress_stream").subscribe({ onItem: (i) => items.push(i), onEnd: resolve, onError: reject });
    });
    assert.equal(end.reason, "closed");
    assert.deepEqual(
      items.map((i) => i.offset),
      [0, 1, 2, 3, 4, 5],
    );
    const waiting = await client.start("messaging", { n_steps: 1 });
    const read = waiting.stream("nothing_here");
    const stop = read.subscribe({});
    stop();
    assert.equal(await read.done, undefined);
    await waiting.cancel();
  });

  test("a live stream survives a SIGKILL of the server: no gap, no repeat", async () => {
    const wf = await client.start("streaming", { n_steps: 15, step_delay_seconds: 0.15 });
    const offsets = [];
    let killed = false;
    for await (const item of wf.stream("progress_stream")) {
      offsets.push(item.offset);
      if (offsets.length === 4 && !killed) {
        killed = true;
        await server.kill();
        await server.start();
      }
    }
    assert.ok(killed);
    assert.deepEqual(
      offsets,
      Array.from({ length: 32 }, (_, i) => i),
    );
  });
});

describe("messages and control", () => {
  test("send answers delivered, then duplicate for the same idempotency key; the workflow gets it once", async () => {
    const wf = await client.start("messaging", { n_steps: 1 });
    await wf.event("status", { timeout: 30 });
    const first = await wf.send("notification", { approved: true, message: "from js" }, { idempotencyKey: "k-1" });
    const second = await wf.send("notification", { approved: true, message: "from js" }, { idempotencyKey: "k-1" });
    assert.equal(first.outcome, "delivered");
    assert.equal(second.outcome, "duplicate");
    const result = await wf.result({ timeout: 60 });
    assert.equal(result.output.approval_message, "from js");
  });

  test("cancel", async () => {
    const wf = await client.start("messaging", { n_steps: 1 });
    const info = await wf.cancel();
    assert.equal(info.status, "CANCELLED");
  });
});

describe("read tokens", () => {
  test("a read token reads one workflow's events and streams, nothing else", async () => {
    const wf = await client.start("streaming", { n_steps: 1 });
    const minted = await wf.readToken({ ttlSeconds: 300 });
    assert.equal(minted.query_param, "access_token");
    const reader = new Client({ baseUrl: server.url, token: minted.token });
    const items = await collect(reader.workflow(wf.id).stream("progress_stream"));
    assert.equal(items.length, 4);
    assert.equal((await reader.workflow(wf.id).event("status", { timeout: 30 })).key, "status");
    await assert.rejects(reader.workflow("another").events(), (e) => e instanceof Unauthorized);
  });

  test("getToken is asked again when the server says the token expired, and the read goes on", async () => {
    const wf = await client.start("messaging", { n_steps: 1 });
    await wf.event("status", { timeout: 30 });
    let minted = 0;
    const reader = new Client({
      baseUrl: server.url,
      getToken: async (id) => {
        minted += 1;
        return (await client.workflow(id).readToken({ ttlSeconds: 1 })).token;
      },
    });
    const seen = [];
    const read = reader.workflow(wf.id).watchEvents({ keys: ["status"] });
    const ended = new Promise((resolve, reject) => {
      read.subscribe({ onItem: (event) => seen.push(event.value), onEnd: resolve, onError: reject });
    });
    // The 1 s token expires under the open connection; the read asks for a new one and goes on.
    while (minted < 3) await new Promise((r) => setTimeout(r, 100));
    await wf.send("notification", { approved: true, message: "ok" });
    await ended;
    assert.ok(minted >= 2);
    assert.equal(seen[0], "waiting_for_approval");
    assert.equal(seen.at(-1), "completed");
    assert.equal(new Set(seen).size, seen.length, `no repeats: ${seen}`);
    assert.equal(read.end.reason, "workflow_finished");
    // An expired static token is a typed error, not a silent retry loop.
    const stale = await wf.readToken({ ttlSeconds: 1 });
    await new Promise((r) => setTimeout(r, 1500));
    const staleReader = new Client({ baseUrl: server.url, token: stale.token });
    await assert.rejects(staleReader.workflow(wf.id).events(), TokenExpired);
  });

  test("getToken's expires_at is honoured: a token is reused until 30 s before it expires, then asked again", async () => {
    const wf = await client.start("streaming", { n_steps: 1 });
    await wf.result({ timeout: 60 });
    const asked = { long: 0, short: 0 };
    const reader = (kind, ttlSeconds) =>
      new Client({
        baseUrl: server.url,
        getToken: async (id) => {
          asked[kind] += 1;
          return client.workflow(id).readToken({ ttlSeconds }); // {token, expires_at, ...}
        },
      });
    const long = reader("long", 3600).workflow(wf.id);
    const short = reader("short", 20).workflow(wf.id);
    for (let i = 0; i < 3; i++) {
      await long.events();
      await short.events();
    }
    assert.equal(asked.long, 1);
    assert.equal(asked.short, 3);
  });
});
