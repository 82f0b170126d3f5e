// The package itself: error classes generated from the server's tree (and current), no runtime dependencies,
// an installable tarball with both entry points, the SSE parser's edge cases.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import * as lib from "../dist/index.js";
import { JS_ROOT, PYTHON, REPO_ROOT } from "./support.mjs";

test("the error classes are generated from communication/protocol/errors.py and are current", () => {
  // Fails (exit 1, naming the file) when the server's tree changed without regenerating.
  execFileSync(PYTHON, [join(REPO_ROOT, ".ci", "gen_js_errors.py"), "--check"], { stdio: "pipe" });
  const codes = JSON.parse(
    execFileSync(
      PYTHON,
      [
        "-c",
        "import json; from communication.protocol import errors as e; from communication.http import errors as h\n" +
          "seen, todo = {}, [e.CommError]\n" +
          "while todo:\n  c = todo.pop(); todo.extend(c.__subclasses__())\n" +
          "  if 'code' in c.__dict__: seen[c.code] = c.status\n" +
          "seen.update({v: k for k, v in h._HTTP_CODES.items() if v not in seen})\n" +
          "print(json.dumps(seen))",
      ],
      { cwd: REPO_ROOT, encoding: "utf-8" },
    ),
  );
  assert.deepEqual(Object.keys(lib.ERROR_CLASSES).sort(), Object.keys(codes).sort());
  for (const [code, status] of Object.entries(codes)) {
    assert.equal(lib.ERROR_STATUS[code], status, code);
    const error = lib.apiError(status, code, "m", { a: 1 });
    assert.ok(error instanceof lib.ApiError && error instanceof lib.ClientError, code);
    assert.equal(error.code, code);
    assert.equal(error.status, status);
    assert.deepEqual(error.details, { a: 1 });
  }
  assert.ok(lib.apiError(404, "workflow_not_found", "m") instanceof lib.NotFound);
  assert.ok(lib.apiError(401, "token_expired", "m") instanceof lib.Unauthorized);
  assert.ok(lib.apiError(503, "subscription_capacity", "m") instanceof lib.ServiceUnavailable);
  // A code this client does not know yet still lands in its status family, keeping the code.
  const future = lib.apiError(409, "some_future_code", "m");
  assert.ok(future instanceof lib.Conflict);
  assert.equal(future.code, "some_future_code");
  assert.ok(lib.apiError(502, "x", "m") instanceof lib.ServerError);
});

test("package.json: no runtime dependencies, React only as an optional peer, ESM with types for both entries", () => {
  const pkg = JSON.parse(readFileSync(join(JS_ROOT, "package.json"), "utf-8"));
  assert.equal(pkg.name, "dbos-comm");
  assert.equal(pkg.dependencies, undefined);
  assert.equal(pkg.type, "module");
  assert.equal(pkg.peerDependenciesMeta.react.optional, true);
  assert.ok(pkg.exports["."].types && pkg.exports["./react"].types);
  for (const script of ["build", "typecheck", "test"]) assert.ok(pkg.scripts[script], script);
});

test("npm pack: the tarball holds both entry points and their declarations", () => {
  const [report] = JSON.parse(
    execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: JS_ROOT, encoding: "utf-8" }),
  );
  const files = new Set(report.files.map((f) => f.path));
  for (const f of ["package.json", "README.md", "dist/index.js", "dist/index.d.ts", "dist/react/index.js", "dist/react/index.d.ts"]) {
    assert.ok(files.has(f), `${f} in the tarball`);
  }
  assert.ok(![...files].some((f) => f.startsWith("test/") || f.startsWith("node_modules/")));
});

test("npm pack: the tarball installs offline (nothing to fetch) and imports by its name", () => {
  const dir = mkdtempSync(join(tmpdir(), "dbos-comm-pack-"));
  try {
    const [packed] = JSON.parse(
      execFileSync("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", dir], { cwd: JS_ROOT, encoding: "utf-8" }),
    );
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", join(dir, packed.filename)], { cwd: dir, stdio: "pipe" });
    const out = execFileSync(
      process.execPath,
      ["--input-type=module", "-e", 'const m = await import("dbos-comm"); console.log(typeof m.Client, typeof m.WorkflowNotFound)'],
      { cwd: dir, encoding: "utf-8" },
    );
    assert.equal(out.trim(), "function function");
    const installed = JSON.parse(readFileSync(join(dir, "node_modules", "dbos-comm", "package.json"), "utf-8"));
    assert.equal(installed.dependencies, undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

async function frames(chunks) {
  const encoder = new TextEncoder();
  const body = new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
  const out = [];
  for await (const frame of lib.readSse(body)) out.push(frame);
  return out;
}

test("readSse: frames split anywhere, CRLF and CR, multi-line data, comments, ids kept across frames", async () => {
  const got = await frames([": connected\r\n\r\nid: 4\r\nevent: va", "lue\r\ndata: {\"a\":\r", "\ndata: 1}\r\n\r\n", "data: x\r\rid: 9\nevent: end\ndata: {}\n\ndata: cut"]);
  const messages = got.filter((f) => f.comment === undefined);
  assert.equal(got[0].comment, "connected");
  assert.deepEqual(
    messages.map((f) => [f.event, f.data, f.id, f.lastEventId]),
    [
      ["value", '{"a":\n1}', "4", "4"],
      ["message", "x", undefined, "4"],
      ["end", "{}", "9", "9"],
    ],
  );
});
