// Human input from JavaScript: a workflow that asks is listed in the inbox; an answer the request's schema refuses
// is AnswerInvalid and delivers nothing; a valid one is delivered once, a second is AlreadyAnswered.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { AlreadyAnswered, AnswerInvalid, Client } from "../dist/index.js";
import { REPO_ROOT, startServer, uid } from "./support.mjs";

const KEY = "js-inbox-key";
let server;
let client;

before(async () => {
  server = await startServer({
    env: {
      COMM_API_KEYS: KEY,
      COMM_WORKFLOWS: "workflows,tests.support.inbox_workflows",
      PYTHONPATH: [REPO_ROOT, process.env.PYTHONPATH].filter(Boolean).join(":"),
    },
  });
  client = new Client({ baseUrl: server.url, apiKey: KEY });
});
after(async () => {
  await server?.close();
});

test("a request is listed, a wrong answer is refused, the right one is delivered once", async () => {
  const id = uid("ask");
  const wf = (await client.start("inbox_ask", { prompt: "Refund 42?" }, { workflowId: id })).id;
  await client.workflow(wf).event("status", { timeout: 30 });
  let listed;
  for (let i = 0; i < 100 && !listed; i += 1) {
    listed = (await client.inbox()).requests.find((r) => r.workflow_id === wf);
    if (!listed) await new Promise((r) => setTimeout(r, 100)); // the request is recorded right after "asking"
  }
  assert.ok(listed, "the request is in the inbox");
  assert.equal(listed.prompt, "Refund 42?");
  assert.equal(listed.schema.type, "object");
  await assert.rejects(client.answer(wf, listed.topic, { approved: "maybe" }), AnswerInvalid);
  const done = await client.answer(wf, listed.topic, { approved: true, amount: 40 });
  assert.equal(done.outcome, "delivered");
  await assert.rejects(client.answer(wf, listed.topic, { approved: false, amount: 0 }), AlreadyAnswered);
  const result = await client.workflow(wf).result({ timeout: 30 });
  assert.equal(result.status, "SUCCESS");
  assert.deepEqual(result.output.answered.approved, true);
});
