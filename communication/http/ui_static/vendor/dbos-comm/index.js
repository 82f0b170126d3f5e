// generated from js/ by .ci/gen_dashboard_client.py: do not edit
/**
 * dbos-comm: the browser and Node client of the dbos-comm server (DBOS workflows over HTTP).
 *
 * ```ts
 * const client = new Client({ baseUrl: "http://127.0.0.1:8000" });
 * const wf = await client.start("streaming", { n_steps: 3 });
 * for await (const item of wf.stream("progress_stream")) console.log(item.offset, item.value);
 * ```
 */
export { Client } from "./client.js";
export { Workflow } from "./workflow.js";
export { LiveRead } from "./live.js";
export { backoffDelay } from "./backoff.js";
export { readSse } from "./sse.js";
export * from "./errors.js";
