// A real `python server.py` for the tests: temp SQLite database, free port, killed when the test process exits.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, openSync } from "node:fs";
import { createServer } from "node:net";
import { constants, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const JS_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const REPO_ROOT = resolve(JS_ROOT, "..");
export const PYTHON = process.env.COMM_PYTHON ?? join(REPO_ROOT, ".venv", "bin", "python");
/** Where `server.py` runs from (default this repository; another checkout's server can be tried against the client). */
export const SERVER_ROOT = process.env.COMM_SERVER_ROOT ?? REPO_ROOT;

const live = new Set();
const dirs = new Set();
const killAll = () => {
  for (const child of live) child.kill("SIGKILL");
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
};
process.on("exit", killAll);
// The test runner stops a file that overran its timeout with a signal, which skips "exit": clean up there too.
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) {
  process.once(signal, () => {
    killAll();
    process.exit(128 + constants.signals[signal]);
  });
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/**
 * Start `python server.py` (with the `summarize` example module too) and wait until /readyz answers 200.
 * `env` adds variables; `restart()` starts it again on the same port and database; `kill()` is SIGKILL (a crash).
 */
export async function startServer({ env = {}, startupMs = 90_000 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "dbos-comm-js-"));
  dirs.add(dir);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const fullEnv = {
    ...process.env,
    DBOS_SYSTEM_DATABASE_URL: `sqlite:///${join(dir, "db.sqlite")}`,
    COMM_DATA_DIR: dir,
    COMM_HOST: "127.0.0.1",
    COMM_PORT: String(port),
    COMM_DEMO_STEP_DELAY_SECONDS: "0",
    COMM_SHUTDOWN_GRACE_SECONDS: "0",
    COMM_WORKFLOWS: "workflows,summarize_flows",
    PYTHONPATH: [join(REPO_ROOT, "examples"), process.env.PYTHONPATH].filter(Boolean).join(":"),
    ...env,
  };
  let child;
  const log = join(dir, "server.log");
  async function launch() {
    const out = openSync(log, "a");
    child = spawn(PYTHON, ["server.py"], { cwd: SERVER_ROOT, env: fullEnv, stdio: ["ignore", out, out] });
    live.add(child);
    const exited = new Promise((ok) => child.once("exit", (code) => ok(code)));
    child.exited = exited;
    const deadline = Date.now() + startupMs;
    for (;;) {
      const code = await Promise.race([exited, new Promise((ok) => setTimeout(() => ok(undefined), 200))]);
      if (code !== undefined) throw new Error(`server exited with ${code} at start; log: ${log}`);
      try {
        const res = await fetch(`${url}/readyz`);
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`server not ready within ${startupMs} ms; log: ${log}`);
    }
  }
  async function stop(signal = "SIGTERM") {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    await child.exited;
    live.delete(child);
  }
  await launch();
  return {
    url,
    port,
    dir,
    log,
    kill: () => stop("SIGKILL"),
    restart: async () => {
      await stop("SIGTERM");
      await launch();
    },
    start: launch,
    close: async () => {
      await stop("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
  };
}

/** A fresh workflow id for a test. */
export function uid(prefix = "js") {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
