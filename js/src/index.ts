/**
 * dbos-comm: the browser and Node client of the dbos-comm server (DBOS workflows over HTTP).
 *
 * ```ts
 * const client = new Client({ baseUrl: "http://127.0.0.1:8000" });
 * const wf = await client.start("streaming", { n_steps: 3 });
 * for await (const item of wf.stream("progress_stream")) console.log(item.offset, item.value);
 * ```
 */
export { Client, type StartOptions, type WorkflowTypeInfo } from "./client.js";
export { Workflow, type FeedOptions, type StreamOptions, type WatchEventsOptions } from "./workflow.js";
export { LiveRead, type LiveHandlers, type LiveOptions } from "./live.js";
export { backoffDelay, type RetryOptions } from "./backoff.js";
export { readSse, type SseFrame } from "./sse.js";
export type { ClientOptions, TokenAnswer } from "./transport.js";
export * from "./errors.js";
export type * from "./types.js";
