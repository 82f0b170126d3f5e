// In real Chromium, against a real server: the React hooks render live values, and the example page
// (examples/browser/index.html, the built package) shows a stream and events live, survives a SIGKILL of the
// server and a page reload without loss or repetition (persist: "session"), and delivers its approval once.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Client } from "../dist/index.js";
import { bundle, launchBrowser, staticServer } from "./browser-support.mjs";
import { startServer } from "./support.mjs";

let server;
let files;
let browser;
let client;
let app;

before(async () => {
  files = await staticServer();
  server = await startServer({ env: { COMM_CORS_ORIGINS: files.origin } });
  client = new Client({ baseUrl: server.url });
  [browser, app] = await Promise.all([launchBrowser(), bundle("hooks-app.mjs")]);
});
after(async () => {
  await browser?.close();
  await server?.close();
  await files?.close();
  app?.cleanup();
});

function pageErrors(page) {
  // A shared CI machine can be slow: generous bounds. Uncaught page errors fail the test (network errors while the
  // server is down are expected and only logged by the browser).
  page.setDefaultTimeout(90_000);
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  return errors;
}

test("useStream and useEvent render a workflow's stream and status live, to the end", async () => {
  const wf = await client.start("streaming", { n_steps: 3, step_delay_seconds: 0.2 });
  const page = await browser.newPage();
  const errors = pageErrors(page);
  const query = new URLSearchParams({ server: server.url, wf: wf.id, app: app.path });
  await page.goto(`${files.origin}/js/test/pages/hooks.html?${query}`);
  await page.waitForSelector("#stream-end", { timeout: 60_000 });
  const offsets = await page.$$eval("#stream li", (lis) => lis.map((li) => Number(li.dataset.offset)));
  assert.deepEqual(offsets, [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(await page.textContent("#stream-end"), "closed");
  await page.waitForSelector('#event[data-ended="yes"]', { timeout: 60_000 });
  assert.equal(await page.textContent("#event"), "completed");
  assert.deepEqual(errors, []);
  await page.close();
});

test("useStream from an offset", async () => {
  const wf = await client.start("streaming", { n_steps: 2 });
  await wf.result({ timeout: 60 });
  const page = await browser.newPage();
  const query = new URLSearchParams({ server: server.url, wf: wf.id, app: app.path, offset: "3" });
  await page.goto(`${files.origin}/js/test/pages/hooks.html?${query}`);
  await page.waitForSelector("#stream-end", { timeout: 60_000 });
  const offsets = await page.$$eval("#stream li", (lis) => lis.map((li) => Number(li.dataset.offset)));
  assert.deepEqual(offsets, [3, 4, 5]);
  await page.close();
});

test("the example page: live stream and status, SIGKILL + restart, reload, approval delivered once", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = pageErrors(page);
  // Every stream value the page shows, across reloads (the observer is installed again on every load).
  const shown = [];
  await page.exposeBinding("recordShown", (_source, offset) => shown.push(offset));
  await page.addInitScript(() => {
    new MutationObserver((records) => {
      for (const record of records) {
        for (const node of record.addedNodes) {
          if (node.nodeType === 1 && node.matches("li[data-offset]")) window.recordShown(Number(node.dataset.offset));
        }
      }
    }).observe(document, { childList: true, subtree: true });
  });
  const url = `${files.origin}/examples/browser/?server=${encodeURIComponent(server.url)}`;
  const until = async (predicate, what) => {
    const deadline = Date.now() + 90_000;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; shown ${shown}`);
      await page.waitForTimeout(50);
    }
  };
  await page.goto(url, { waitUntil: "domcontentloaded" });
  await page.waitForFunction(() => sessionStorage.getItem("demo-workflow"));
  const id = await page.evaluate(() => sessionStorage.getItem("demo-workflow"));
  assert.match(id, /^browser-demo-/);

  await until(() => shown.length >= 3, "3 values");
  await server.kill(); // a crash: the workflow and the page's connection die mid-stream
  await server.start();
  const afterRestart = shown.length;
  await until(() => shown.length >= afterRestart + 2, "values after the restart");
  await page.reload({ waitUntil: "domcontentloaded" });
  assert.equal(await page.evaluate(() => sessionStorage.getItem("demo-workflow")), id, "the reload re-attached");
  await page.waitForSelector("#approve:not([disabled])", { timeout: 90_000 });
  assert.equal(await page.textContent("#status"), "waiting_for_approval");
  const sent = (outcome) =>
    page
      .waitForFunction((o) => document.getElementById("sent").textContent === o, outcome)
      .catch((e) => {
        throw new Error(`no "${outcome}" shown: ${e.message}; page errors: ${errors}`);
      });
  await page.click("#approve");
  await sent("delivered");
  // Again (a double click, a retry): the button may already be disabled by the next status, so call its handler.
  await page.evaluate(() => document.getElementById("approve").onclick());
  await sent("duplicate");
  await page.waitForFunction(() => document.getElementById("result").textContent !== "", null, { timeout: 90_000 });
  assert.match(await page.textContent("#result"), /published/);

  const result = await client.workflow(id).result({ timeout: 30 });
  assert.deepEqual(result.output.approval, { approved: true, message: "approved in the browser" });
  const total = (await client.workflow(id).readStream("progress_stream", { limit: 1000 })).values.length;
  assert.equal(total, 14);
  // Across the crash and the reload: every value shown exactly once, in order.
  assert.deepEqual(shown, Array.from({ length: total }, (_, i) => i));
  assert.deepEqual(errors, []);
  await context.close();
});

test("a hidden tab pauses the live read; visible again, it resumes from its cursor without gap or repeat", async () => {
  const wf = await client.start("streaming", { n_steps: 12, step_delay_seconds: 0.25 });
  const page = await browser.newPage();
  const errors = pageErrors(page);
  await page.addInitScript(() => {
    // Headless Chromium is always "visible": make visibility switchable, and count SSE connections.
    let state = "visible";
    Object.defineProperty(Document.prototype, "visibilityState", { get: () => state, configurable: true });
    window.setVisibility = (next) => {
      state = next;
      document.dispatchEvent(new Event("visibilitychange"));
    };
    window.sseConnections = 0;
    const original = window.fetch;
    window.fetch = (input, init) => {
      if (String(input).includes("/live")) window.sseConnections += 1;
      return original(input, init);
    };
  });
  const query = new URLSearchParams({ server: server.url, wf: wf.id, app: app.path });
  await page.goto(`${files.origin}/js/test/pages/hooks.html?${query}`, { waitUntil: "domcontentloaded" });
  await page.waitForFunction(() => document.querySelectorAll("#stream li").length >= 3);
  await page.evaluate(() => window.setVisibility("hidden"));
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())));
  const shownWhenHidden = await page.$$eval("#stream li", (lis) => lis.length);
  const connectionsWhenHidden = await page.evaluate(() => window.sseConnections);
  // The workflow goes on writing meanwhile (read on the server, not in the page).
  let written = 0;
  while (written < shownWhenHidden + 6) {
    await new Promise((r) => setTimeout(r, 50));
    written = (await wf.readStream("progress_stream", { limit: 1000 })).values.length;
  }
  assert.equal(await page.$$eval("#stream li", (lis) => lis.length), shownWhenHidden, "no values while hidden");
  assert.equal(await page.evaluate(() => window.sseConnections), connectionsWhenHidden, "no reconnect while hidden");
  await page.evaluate(() => window.setVisibility("visible"));
  await page.waitForSelector("#stream-end");
  const offsets = await page.$$eval("#stream li", (lis) => lis.map((li) => Number(li.dataset.offset)));
  assert.deepEqual(offsets, Array.from({ length: 26 }, (_, i) => i));
  assert.deepEqual(errors, []);
  await page.close();
});
