/** A handle on one workflow: its status, result, events, streams, feed, messages and read tokens. */
import { LiveRead, type LiveHandlers, type LiveOptions, type LiveSpec } from "./live.js";
import { EventNotFound, ProtocolError } from "./errors.js";
import type { SseFrame } from "./sse.js";
import type { Transport } from "./transport.js";
import type {
  EventsSnapshot,
  EventValue,
  FeedEnd,
  FeedFrame,
  LiveEnd,
  ReadToken,
  SendResult,
  StreamItem,
  WorkflowInfo,
  WorkflowResult,
  WorkflowStatus,
} from "./types.js";

/** Longest wait the server grants one blocking request (`COMM_MAX_WAIT_SECONDS`). */
const MAX_WAIT_SECONDS = 120;

export interface StreamOptions extends LiveOptions {
  /** First offset to read (default 0); a persisted cursor wins over it. */
  offset?: number;
}

export interface WatchEventsOptions extends LiveOptions {
  /** Only these keys (default: every key). */
  keys?: string[];
  /** Only versions after this one (default: the current values first, then every change). */
  afterVersion?: number;
}

export interface FeedOptions extends LiveOptions {
  /** Resume after this cursor (an `id` a feed frame carried); a persisted cursor wins over it. */
  cursor?: string;
  /** Only these event keys (default: all). */
  events?: string[];
  /** Only these streams (default: all). */
  streams?: string[];
  /** Include status frames (default true). */
  status?: boolean;
  onStatus?: (status: WorkflowStatus, frame: Extract<FeedFrame, { kind: "status" }>) => void;
  onEvent?: (frame: Extract<FeedFrame, { kind: "event" }>) => void;
  onStream?: (frame: Extract<FeedFrame, { kind: "stream" }>) => void;
  onEnd?: (frame: FeedEnd) => void;
  onError?: (error: unknown) => void;
}

function parseJson(frame: SseFrame): unknown {
  try {
    return JSON.parse(frame.data);
  } catch (error) {
    throw new ProtocolError(`an SSE frame whose data is not JSON: ${frame.data.slice(0, 100)}`, { cause: error });
  }
}

function position(cursor: string | undefined): number {
  return cursor === undefined || cursor === "" ? -1 : Number(cursor);
}

function randomKey(): string {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === "function") {
    try {
      return c.randomUUID();
    } catch {
      // randomUUID needs a secure context in browsers: fall through
    }
  }
  const bytes = new Uint8Array(16);
  if (c && typeof c.getRandomValues === "function") c.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class Workflow<O = unknown> {
  /** Set by `client.start`: false when the id already existed and nothing was started. */
  created?: boolean;
  /** Set by `client.start`: the status as started. */
  info?: WorkflowInfo;

  constructor(
    private readonly transport: Transport,
    readonly id: string,
  ) {}

  private path(suffix = ""): string {
    return `/v1/workflows/${encodeURIComponent(this.id)}${suffix}`;
  }

  /** `GET /v1/workflows/{id}`: status, input, output, error. */
  async status(options: { signal?: AbortSignal } = {}): Promise<WorkflowInfo> {
    const req = { readOf: this.id, retry: true, ...(options.signal ? { signal: options.signal } : {}) };
    return (await this.transport.request<WorkflowInfo>("GET", this.path(), req)).body;
  }

  /**
   * Wait up to `timeout` seconds (default 30; split into requests of at most 120 s) for the outcome.
   * `done: false` when the workflow is still running then.
   */
  async result(options: { timeout?: number; signal?: AbortSignal } = {}): Promise<WorkflowResult<O>> {
    const deadline = Date.now() + (options.timeout ?? 30) * 1000;
    for (;;) {
      const left = Math.max(0, (deadline - Date.now()) / 1000);
      const { status, body } = await this.transport.request<WorkflowResult<O>>("GET", this.path("/result"), {
        query: { timeout: Math.min(left, MAX_WAIT_SECONDS).toFixed(3) },
        readOf: this.id,
        retry: true,
        accept: [202],
        ...(options.signal ? { signal: options.signal } : {}),
      });
      if (status !== 202 || body.done || Date.now() >= deadline) return body;
    }
  }

  /**
   * The value of event `key`, waiting up to `timeout` seconds (default 30; longer waits are split into requests of
   * at most 120 s) for it to be set, or for a version newer than `afterVersion`. Throws `EventNotFound` (`details.reason`: `timeout` or `workflow_finished`).
   */
  async event<V = unknown>(
    key: string,
    options: { timeout?: number; afterVersion?: number; signal?: AbortSignal } = {},
  ): Promise<EventValue<V>> {
    const path = this.path(`/events/${encodeURIComponent(key)}`);
    const deadline = Date.now() + (options.timeout ?? 30) * 1000;
    for (;;) {
      const left = Math.max(0, (deadline - Date.now()) / 1000);
      const query = { timeout: Math.min(left, MAX_WAIT_SECONDS).toFixed(3), after_version: options.afterVersion };
      const req = { query, readOf: this.id, retry: true, ...(options.signal ? { signal: options.signal } : {}) };
      try {
        return (await this.transport.request<EventValue<V>>("GET", path, req)).body;
      } catch (error) {
        // The server grants at most 120 s per request: a longer wait is several requests.
        const timedOut = error instanceof EventNotFound && error.details.reason === "timeout";
        if (!timedOut || Date.now() >= deadline - 1) throw error;
      }
    }
  }

  /** Every event's latest value and version (never waits). */
  async events(): Promise<EventsSnapshot> {
    return (await this.transport.request<EventsSnapshot>("GET", this.path("/events"), { readOf: this.id, retry: true }))
      .body;
  }

  /** The workflow's streams: key, length, closed. */
  async streams(): Promise<{ status: WorkflowStatus; streams: { key: string; length: number; closed: boolean }[] }> {
    return (await this.transport.request<never>("GET", this.path("/streams"), { readOf: this.id, retry: true })).body;
  }

  /** A snapshot page of stream `key` (never waits). */
  async readStream<V = unknown>(
    key: string,
    options: { offset?: number; limit?: number } = {},
  ): Promise<{ values: StreamItem<V>[]; next_offset: number; closed: boolean; complete: boolean; workflow_status: WorkflowStatus }> {
    const path = this.path(`/streams/${encodeURIComponent(key)}`);
    const query = { offset: options.offset ?? 0, limit: options.limit ?? 100 };
    return (await this.transport.request<never>("GET", path, { query, readOf: this.id, retry: true })).body;
  }

  /**
   * Stream `key` live from `offset` (SSE tail): iterate it, or `.subscribe({onItem, onEnd, onError})`.
   * Reconnects and resumes by itself; ends with the stream (`.end`: closed, workflow_finished, value_not_decodable).
   */
  stream<V = unknown>(key: string, options: StreamOptions = {}): LiveRead<StreamItem<V>, LiveEnd> {
    const spec: LiveSpec<StreamItem<V>, LiveEnd> = {
      workflowId: this.id,
      channel: `stream:${key}`,
      path: this.path(`/streams/${encodeURIComponent(key)}/live`),
      initialCursor: options.offset ? String(options.offset - 1) : undefined,
      query: (cursor) => ({ offset: position(cursor) + 1 }),
      frame: (frame, cursor) => {
        if (frame.event === "value") {
          const offset = Number(frame.id);
          if (!Number.isSafeInteger(offset)) throw new ProtocolError(`a stream value without an offset id: ${frame.id}`);
          if (offset <= position(cursor)) return null;
          return { item: { offset, value: parseJson(frame) as V }, cursor: String(offset) };
        }
        if (frame.event === "end") {
          const end = parseJson(frame) as LiveEnd;
          return end.reason === "error" ? { reconnect: true } : { end };
        }
        return null;
      },
    };
    return new LiveRead(this.transport, spec, options);
  }

  /** Event values live: the current ones first, then every change, until the workflow ends (SSE watch). */
  watchEvents<V = unknown>(options: WatchEventsOptions = {}): LiveRead<EventValue<V>, LiveEnd> {
    const keys = options.keys?.join(",");
    const spec: LiveSpec<EventValue<V>, LiveEnd> = {
      workflowId: this.id,
      channel: `events:${keys ?? "*"}`,
      path: this.path("/events/live"),
      initialCursor: options.afterVersion !== undefined ? String(options.afterVersion) : undefined,
      query: (cursor) => ({ after_version: cursor === undefined ? undefined : position(cursor), keys }),
      frame: (frame, cursor) => {
        if (frame.event === "event") {
          const event = parseJson(frame) as EventValue<V>;
          if (event.version <= position(cursor)) return null;
          return { item: event, cursor: String(event.version) };
        }
        if (frame.event === "end") {
          const end = parseJson(frame) as LiveEnd;
          return end.reason === "error" ? { reconnect: true } : { end };
        }
        return null;
      },
    };
    return new LiveRead(this.transport, spec, options);
  }

  /**
   * The workflow's whole life on one connection: status changes, event values and stream values, then the end
   * (status, output or error). With handlers it starts at once; the returned read can also be iterated instead.
   */
  feed(options: FeedOptions = {}): LiveRead<FeedFrame, FeedEnd> {
    const streamOffsets = new Map<string, number>();
    let eventVersion = -1;
    let lastStatus: WorkflowStatus | undefined;
    const filters = {
      events: options.events?.join(","),
      streams: options.streams?.join(","),
      status: options.status === false ? "0" : undefined,
    };
    const spec: LiveSpec<FeedFrame, FeedEnd> = {
      workflowId: this.id,
      channel: `feed:${filters.events ?? "*"}:${filters.streams ?? "*"}:${filters.status ?? "1"}`,
      path: this.path("/feed"),
      initialCursor: options.cursor,
      query: (cursor) => ({ ...filters, cursor: cursor || undefined }),
      frame: (frame, cursor) => {
        if (frame.event !== "message") return null;
        const data = parseJson(frame) as FeedFrame;
        const next = frame.id ?? cursor ?? "";
        const withCursor = (f: FeedFrame): FeedFrame => (frame.id !== undefined ? { ...f, cursor: frame.id } : f);
        switch (data.kind) {
          case "status":
            if (data.status === lastStatus) return null;
            lastStatus = data.status;
            return { item: withCursor(data), cursor: next };
          case "event":
            // The cursor already resumes exactly; these guard against a server that replays a frame anyway.
            if (data.version <= eventVersion) return null;
            eventVersion = data.version;
            return { item: withCursor(data), cursor: next };
          case "stream": {
            if (data.offset <= (streamOffsets.get(data.key) ?? -1)) return null;
            streamOffsets.set(data.key, data.offset);
            return { item: withCursor(data), cursor: next };
          }
          case "end":
            return { end: withCursor(data) as FeedEnd };
          default:
            return null; // a kind this client does not know yet
        }
      },
      noContent: () => ({ kind: "end", status: lastStatus ?? "UNKNOWN" }),
    };
    const read = new LiveRead(this.transport, spec, options);
    const { onStatus, onEvent, onStream, onEnd, onError } = options;
    if (onStatus || onEvent || onStream || onEnd || onError) {
      const handlers: LiveHandlers<FeedFrame, FeedEnd> = {
        onItem: (frame) => {
          if (frame.kind === "status") onStatus?.(frame.status, frame);
          else if (frame.kind === "event") onEvent?.(frame);
          else if (frame.kind === "stream") onStream?.(frame);
        },
      };
      if (onEnd) handlers.onEnd = onEnd;
      if (onError) handlers.onError = onError;
      read.subscribe(handlers);
    }
    return read;
  }

  /**
   * Send `message` on `topic`, exactly once: the idempotency key (default: a random one, kept across this call's
   * own retries) makes a repeat answer `duplicate` instead of delivering twice.
   */
  async send(
    topic: string,
    message: unknown,
    options: { idempotencyKey?: string; signal?: AbortSignal } = {},
  ): Promise<SendResult> {
    const body = { topic, message, idempotency_key: options.idempotencyKey ?? randomKey() };
    const req = { body, retry: true, ...(options.signal ? { signal: options.signal } : {}) };
    return (await this.transport.request<SendResult>("POST", this.path("/messages"), req)).body;
  }

  /** Cancel the workflow; its status. */
  async cancel(): Promise<WorkflowInfo> {
    return (await this.transport.request<WorkflowInfo>("POST", this.path("/cancel"), { retry: true })).body;
  }

  /** Resume a cancelled or failed workflow; its status. */
  async resume(): Promise<WorkflowInfo> {
    return (await this.transport.request<WorkflowInfo>("POST", this.path("/resume"), { retry: true })).body;
  }

  /** Mint a read token for this workflow (needs an API key): hand it to a browser as `new Client({token})`. */
  async readToken(options: { ttlSeconds?: number } = {}): Promise<ReadToken> {
    const body = options.ttlSeconds === undefined ? {} : { ttl_seconds: options.ttlSeconds };
    return (await this.transport.request<ReadToken>("POST", this.path("/read-token"), { body })).body;
  }
}
