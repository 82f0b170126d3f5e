// generated from js/ by .ci/gen_dashboard_client.py: do not edit
/** A handle on one workflow: its status, result, events, streams, feed, messages and read tokens. */
import { LiveRead } from "./live.js";
import { EventNotFound, ProtocolError } from "./errors.js";
/** Longest wait the server grants one blocking request (`COMM_MAX_WAIT_SECONDS`). */
const MAX_WAIT_SECONDS = 120;
function parseJson(frame) {
    try {
        return JSON.parse(frame.data);
    }
    catch (error) {
        throw new ProtocolError(`an SSE frame whose data is not JSON: ${frame.data.slice(0, 100)}`, { cause: error });
    }
}
function position(cursor) {
    return cursor === undefined || cursor === "" ? -1 : Number(cursor);
}
function randomKey() {
    const c = globalThis.crypto;
    if (c && typeof c.randomUUID === "function") {
        try {
            return c.randomUUID();
        }
        catch {
            // randomUUID needs a secure context in browsers: fall through
        }
    }
    const bytes = new Uint8Array(16);
    if (c && typeof c.getRandomValues === "function")
        c.getRandomValues(bytes);
    else
        for (let i = 0; i < bytes.length; i++)
            bytes[i] = Math.floor(Math.random() * 256);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
export class Workflow {
    transport;
    id;
    /** Set by `client.start`: false when the id already existed and nothing was started. */
    created;
    /** Set by `client.start`: the status as started. */
    info;
    constructor(transport, id) {
        this.transport = transport;
        this.id = id;
    }
    path(suffix = "") {
        return `/v1/workflows/${encodeURIComponent(this.id)}${suffix}`;
    }
    /** `GET /v1/workflows/{id}`: status, input, output, error. */
    async status(options = {}) {
        const req = { readOf: this.id, retry: true, ...(options.signal ? { signal: options.signal } : {}) };
        return (await this.transport.request("GET", this.path(), req)).body;
    }
    /**
     * Wait up to `timeout` seconds (default 30; split into requests of at most 120 s) for the outcome.
     * `done: false` when the workflow is still running then.
     */
    async result(options = {}) {
        const deadline = Date.now() + (options.timeout ?? 30) * 1000;
        for (;;) {
            const left = Math.max(0, (deadline - Date.now()) / 1000);
            const { status, body } = await this.transport.request("GET", this.path("/result"), {
                query: { timeout: Math.min(left, MAX_WAIT_SECONDS).toFixed(3) },
                readOf: this.id,
                retry: true,
                accept: [202],
                ...(options.signal ? { signal: options.signal } : {}),
            });
            if (status !== 202 || body.done || Date.now() >= deadline)
                return body;
        }
    }
    /**
     * The value of event `key`, waiting up to `timeout` seconds (default 30; longer waits are split into requests of
     * at most 120 s) for it to be set, or for a version newer than `afterVersion`. Throws `EventNotFound` (`details.reason`: `timeout` or `workflow_finished`).
     */
    async event(key, options = {}) {
        const path = this.path(`/events/${encodeURIComponent(key)}`);
        const deadline = Date.now() + (options.timeout ?? 30) * 1000;
        for (;;) {
            const left = Math.max(0, (deadline - Date.now()) / 1000);
            const query = { timeout: Math.min(left, MAX_WAIT_SECONDS).toFixed(3), after_version: options.afterVersion };
            const req = { query, readOf: this.id, retry: true, ...(options.signal ? { signal: options.signal } : {}) };
            try {
                return (await this.transport.request("GET", path, req)).body;
            }
            catch (error) {
                // The server grants at most 120 s per request: a longer wait is several requests.
                const timedOut = error instanceof EventNotFound && error.details.reason === "timeout";
                if (!timedOut || Date.now() >= deadline - 1)
                    throw error;
            }
        }
    }
    /** Every event's latest value and version (never waits). */
    async events() {
        return (await this.transport.request("GET", this.path("/events"), { readOf: this.id, retry: true }))
            .body;
    }
    /** The workflow's streams: key, length, closed. */
    async streams() {
        return (await this.transport.request("GET", this.path("/streams"), { readOf: this.id, retry: true })).body;
    }
    /** A snapshot page of stream `key` (never waits). */
    async readStream(key, options = {}) {
        const path = this.path(`/streams/${encodeURIComponent(key)}`);
        const query = { offset: options.offset ?? 0, limit: options.limit ?? 100 };
        return (await this.transport.request("GET", path, { query, readOf: this.id, retry: true })).body;
    }
    /**
     * Stream `key` live from `offset` (SSE tail): iterate it, or `.subscribe({onItem, onEnd, onError})`.
     * Reconnects and resumes by itself; ends with the stream (`.end`: closed, workflow_finished, value_not_decodable).
     */
    stream(key, options = {}) {
        const spec = {
            workflowId: this.id,
            channel: `stream:${key}`,
            path: this.path(`/streams/${encodeURIComponent(key)}/live`),
            initialCursor: options.offset ? String(options.offset - 1) : undefined,
            query: (cursor) => ({ offset: position(cursor) + 1 }),
            frame: (frame, cursor) => {
                if (frame.event === "value") {
                    const offset = Number(frame.id);
                    if (!Number.isSafeInteger(offset))
                        throw new ProtocolError(`a stream value without an offset id: ${frame.id}`);
                    if (offset <= position(cursor))
                        return null;
                    return { item: { offset, value: parseJson(frame) }, cursor: String(offset) };
                }
                if (frame.event === "end") {
                    const end = parseJson(frame);
                    return end.reason === "error" ? { reconnect: true } : { end };
                }
                return null;
            },
        };
        return new LiveRead(this.transport, spec, options);
    }
    /** Event values live: the current ones first, then every change, until the workflow ends (SSE watch). */
    watchEvents(options = {}) {
        const keys = options.keys?.join(",");
        const spec = {
            workflowId: this.id,
            channel: `events:${keys ?? "*"}`,
            path: this.path("/events/live"),
            initialCursor: options.afterVersion !== undefined ? String(options.afterVersion) : undefined,
            query: (cursor) => ({ after_version: cursor === undefined ? undefined : position(cursor), keys }),
            frame: (frame, cursor) => {
                if (frame.event === "event") {
                    const event = parseJson(frame);
                    if (event.version <= position(cursor))
                        return null;
                    return { item: event, cursor: String(event.version) };
                }
                if (frame.event === "end") {
                    const end = parseJson(frame);
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
    feed(options = {}) {
        const streamOffsets = new Map();
        let eventVersion = -1;
        let lastStatus;
        const filters = {
            events: options.events?.join(","),
            streams: options.streams?.join(","),
            status: options.status === false ? "0" : undefined,
        };
        const spec = {
            workflowId: this.id,
            channel: `feed:${filters.events ?? "*"}:${filters.streams ?? "*"}:${filters.status ?? "1"}`,
            path: this.path("/feed"),
            initialCursor: options.cursor,
            query: (cursor) => ({ ...filters, cursor: cursor || undefined }),
            frame: (frame, cursor) => {
                if (frame.event !== "message")
                    return null;
                const data = parseJson(frame);
                const next = frame.id ?? cursor ?? "";
                const withCursor = (f) => (frame.id !== undefined ? { ...f, cursor: frame.id } : f);
                switch (data.kind) {
                    case "status":
                        if (data.status === lastStatus)
                            return null;
                        lastStatus = data.status;
                        return { item: withCursor(data), cursor: next };
                    case "event":
                        // The cursor already resumes exactly; these guard against a server that replays a frame anyway.
                        if (data.version <= eventVersion)
                            return null;
                        eventVersion = data.version;
                        return { item: withCursor(data), cursor: next };
                    case "stream": {
                        if (data.offset <= (streamOffsets.get(data.key) ?? -1))
                            return null;
                        streamOffsets.set(data.key, data.offset);
                        return { item: withCursor(data), cursor: next };
                    }
                    case "end":
                        return { end: withCursor(data) };
                    default:
                        return null; // a kind this client does not know yet
                }
            },
            noContent: () => ({ kind: "end", status: lastStatus ?? "UNKNOWN" }),
        };
        const read = new LiveRead(this.transport, spec, options);
        const { onStatus, onEvent, onStream, onEnd, onError } = options;
        if (onStatus || onEvent || onStream || onEnd || onError) {
            const handlers = {
                onItem: (frame) => {
                    if (frame.kind === "status")
                        onStatus?.(frame.status, frame);
                    else if (frame.kind === "event")
                        onEvent?.(frame);
                    else if (frame.kind === "stream")
                        onStream?.(frame);
                },
            };
            if (onEnd)
                handlers.onEnd = onEnd;
            if (onError)
                handlers.onError = onError;
            read.subscribe(handlers);
        }
        return read;
    }
    /**
     * Send `message` on `topic`, exactly once: the idempotency key (default: a random one, kept across this call's
     * own retries) makes a repeat answer `duplicate` instead of delivering twice.
     */
    async send(topic, message, options = {}) {
        const body = { topic, message, idempotency_key: options.idempotencyKey ?? randomKey() };
        const req = { body, retry: true, ...(options.signal ? { signal: options.signal } : {}) };
        return (await this.transport.request("POST", this.path("/messages"), req)).body;
    }
    /** Cancel the workflow; its status. */
    async cancel() {
        return (await this.transport.request("POST", this.path("/cancel"), { retry: true })).body;
    }
    /** Resume a cancelled or failed workflow; its status. */
    async resume() {
        return (await this.transport.request("POST", this.path("/resume"), { retry: true })).body;
    }
    /** Mint a read token for this workflow (needs an API key): hand it to a browser as `new Client({token})`. */
    async readToken(options = {}) {
        const body = options.ttlSeconds === undefined ? {} : { ttl_seconds: options.ttlSeconds };
        return (await this.transport.request("POST", this.path("/read-token"), { body })).body;
    }
}
