// `wfc codegen ts` against a real server: the generated types compile with strict tsc together with a usage of
// `new Client<WorkflowTypes>`, and a wrong input type is a compile error.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { JS_ROOT, PYTHON, REPO_ROOT, startServer } from "./support.mjs";

let server;
let dir;

before(async () => {
  server = await startServer();
  // Inside js/ so that "../dist/index.js" and node_modules resolve as they do for a user of the package.
  dir = mkdtempSync(join(JS_ROOT, ".codegen-"));
  execFileSync(PYTHON, ["-m", "communication.cli.app", "codegen", "ts", "--url", server.url, "--out", join(dir, "types.ts")], {
    cwd: REPO_ROOT,
    stdio: "pipe",
  });
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        lib: ["ES2022", "DOM"],
        skipLibCheck: true,
        types: [],
      },
      files: ["types.ts", "check.ts"],
    }),
  );
});
after(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function typecheck(source) {
  writeFileSync(join(dir, "check.ts"), source);
  const tsc = join(JS_ROOT, "node_modules", "typescript", "bin", "tsc");
  const run = spawnSync(process.execPath, [tsc, "-p", join(dir, "tsconfig.json")], { encoding: "utf-8" });
  return { ok: run.status === 0, output: run.stdout + run.stderr };
}

const HEADER = `import { Client } from "../dist/index.js";
import type { SummarizeInput, SummarizeOutput, WorkflowTypes } from "./types.js";
const client = new Client<WorkflowTypes>({ baseUrl: "http://127.0.0.1:8000" });
`;

test("the generated module declares every registered type's input and output and the WorkflowTypes map", () => {
  const text = readFileSync(join(dir, "types.ts"), "utf-8");
  for (const name of ["summarize", "streaming", "messaging", "pipeline"]) assert.match(text, new RegExp(`\\b${name}: \\{ input: `));
  assert.match(text, /export type SummarizeInput = \{\n\s+text: string;\n\s+times\?: number;\n\s+style\?: SummarizeStyle \| null;/);
});

test("typed starts compile under strict tsc", () => {
  const { ok, output } = typecheck(`${HEADER}
export async function run(): Promise<void> {
  const input: SummarizeInput = { text: "hi", times: 3, style: { upper: true } };
  const wf = await client.start("summarize", input, { workflowId: "s-1" });
  const result = await wf.result({ timeout: 10 });
  const output: SummarizeOutput | null | undefined = result.output;
  void output;
  await client.start("summarize", { text: "hi" });
  await client.start("streaming", { n_steps: 2, step_delay_seconds: 0.1 });
  await client.start("pipeline", { sources: [{ name: "a", items: 2 }] });
}
`);
  assert.ok(ok, output);
});

test("wrong inputs and unknown types are compile errors, each on its own line", () => {
  const bad = [
    ["a wrong input type", `client.start("summarize", { text: 1 })`],
    ["a missing required field", `client.start("summarize", { times: 2 })`],
    ["an unknown field", `client.start("summarize", { text: "hi", tims: 2 })`],
    ["an unknown workflow type", `client.start("summarise", { text: "hi" })`],
    ["a wrong nested type", `client.start("summarize", { text: "hi", style: { upper: "yes" } })`],
  ];
  // One tsc run for all (tsc is slow on a shared machine); line 4 + i holds case i.
  const { ok, output } = typecheck(HEADER + bad.map(([, call], i) => `export const p${i} = ${call};\n`).join(""));
  assert.equal(ok, false, output);
  bad.forEach(([what], i) => assert.match(output, new RegExp(`check\\.ts\\(${4 + i},`), `${what}: no error on its line\n${output}`));
});
