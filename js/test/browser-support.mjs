// Real Chromium (playwright-core, the machine's chromium) and a small static file server for the test pages.
import { createServer } from "node:http";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { extname, join, normalize, resolve } from "node:path";
import { chromium } from "playwright-core";
import { build } from "esbuild";
import { JS_ROOT, REPO_ROOT, freePort } from "./support.mjs";

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".map": "application/json" };

/** Serve the repository's files (read-only) on a free port; returns {origin, close}. */
export async function staticServer() {
  const port = await freePort();
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    let file = normalize(join(REPO_ROOT, path));
    if (!file.startsWith(REPO_ROOT)) {
      res.writeHead(403).end();
      return;
    }
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, "index.html");
    if (!existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "Content-Type": TYPES[extname(file)] ?? "application/octet-stream", "Cache-Control": "no-store" });
    res.end(readFileSync(file));
  });
  await new Promise((ok) => server.listen(port, "127.0.0.1", ok));
  return { origin: `http://127.0.0.1:${port}`, port, close: () => new Promise((ok) => server.close(ok)) };
}

function chromiumPath() {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  for (const name of ["chromium", "chromium-browser", "google-chrome"]) {
    try {
      return execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf-8" }).trim();
    } catch {
      // try the next name
    }
  }
  throw new Error("no chromium on PATH (set CHROMIUM_PATH)");
}

/** Launch headless Chromium. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: chromiumPath(),
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** Bundle a test page's module (React and the built package inside) into a temp dir under js/; returns its URL path. */
export async function bundle(entry) {
  const dir = mkdtempSync(join(JS_ROOT, ".browser-"));
  await build({
    entryPoints: [resolve(JS_ROOT, "test", "pages", entry)],
    bundle: true,
    format: "esm",
    outfile: join(dir, "app.js"),
    define: { "process.env.NODE_ENV": '"development"' },
    logLevel: "error",
  });
  return { path: `/${join("js", dir.slice(JS_ROOT.length + 1), "app.js")}`, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
