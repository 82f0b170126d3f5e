// generated from js/ by .ci/gen_dashboard_client.py: do not edit
/**
 * Live reads that survive the network: one SSE connection at a time, reconnecting by itself with backoff and
 * jitter, resuming from its cursor (query parameter and `Last-Event-ID`), optionally persisting the cursor in
 * sessionStorage/localStorage (a reloaded page continues where it was), pausing while the tab is hidden, and
 * stopping at the end frame.
 */
import { backoffDelay, DEFAULT_RETRY, sleep } from "./backoff.js";
import { ApiError, ProtocolError, ReconnectsExhausted, TransportError, errorFromBody } from "./errors.js";
import { readSse } from "./sse.js";
import { isTokenError, RETRYABLE_STATUS } from "./transport.js";
function storageFor(kind) {
    if (!kind)
        return undefined;
    try {
        const storage = kind === "local" ? globalThis.localStorage : globalThis.sessionStorage;
        return storage ?? undefined;
    }
    catch {
        return undefined; // storage denied (privacy settings, sandboxed frame): read without persistence
    }
}
function hasDocument() {
    return typeof document !== "undefined" && typeof document.addEventListener === "function";
}
/**
 * A live read: iterate it (`for await`), or `subscribe` callbacks. `end` holds the end frame once it came,
 * `cursor` the position after the last item delivered. Each read can be consumed once.
 */
export class LiveRead {
    transport;
    spec;
    options;
    /** The end frame, once the read ended normally. */
    end;
    /** The cursor after the last delivered item (what a reconnect resumes from). */
    cursor;
    /** Settles when the read stops: the end frame, or `undefined` when closed early; rejects on failure. */
    done;
    controller = new AbortController();
    storage;
    storageKey;
    started = false;
    settle;
    fail;
    constructor(transport, spec, options = {}) {
        this.transport = transport;
        this.spec = spec;
        this.options = options;
        this.done = new Promise((resolve, reject) => {
            this.settle = resolve;
            this.fail = reject;
        });
        this.done.catch(() => undefined); // a failure is reported where the read is consumed; never unhandled
        this.storage = storageFor(options.persist);
        this.storageKey = `dbos-comm:${spec.workflowId}:${spec.channel}`;
        const saved = this.load();
        this.cursor = saved.cursor ?? spec.initialCursor;
        this.end = saved.end;
        if (options.signal?.aborted)
            this.close();
        else
            options.signal?.addEventListener("abort", () => this.close(), { once: true });
    }
    /** Stop reading (closes the connection; the iterator ends, `done` resolves with `undefined`). */
    close() {
        this.controller.abort(new DOMException("closed", "AbortError"));
    }
    /** Forget the persisted cursor (e.g. to read again from the start after a reload). */
    forget() {
        this.storage?.removeItem(this.storageKey);
    }
    [Symbol.asyncIterator]() {
        if (this.started)
            throw new TypeError("a live read can be consumed once");
        this.started = true;
        return this.run();
    }
    /** The callback form: calls `onItem` per item, then `onEnd`, or `onError`. Returns a function that stops it. */
    subscribe(handlers) {
        void (async () => {
            try {
                for await (const item of this)
                    handlers.onItem?.(item);
                if (this.end !== undefined)
                    handlers.onEnd?.(this.end);
            }
            catch (error) {
                if (handlers.onError)
                    handlers.onError(error);
                else
                    console.error("dbos-comm live read failed", error);
            }
        })();
        return () => this.close();
    }
    load() {
        const text = this.storage?.getItem(this.storageKey);
        if (!text)
            return {};
        try {
            return JSON.parse(text);
        }
        catch {
            return {};
        }
    }
    save() {
        if (!this.storage)
            return;
        const value = {};
        if (this.cursor !== undefined)
            value.cursor = this.cursor;
        if (this.end !== undefined)
            value.end = this.end;
        try {
            this.storage.setItem(this.storageKey, JSON.stringify(value));
        }
        catch {
            // storage full or denied: the read goes on, only without surviving a reload
        }
    }
    async *run() {
        const signal = this.controller.signal;
        const retry = { ...DEFAULT_RETRY, ...this.transport.options.retry, ...this.options.retry };
        const pause = this.options.pauseWhenHidden !== false && hasDocument();
        let failures = 0;
        let lastError;
        try {
            if (this.end !== undefined) {
                this.settle(this.end);
                return undefined;
            }
            while (!signal.aborted) {
                if (pause)
                    await waitVisible(signal);
                const connection = new AbortController();
                const abortConnection = () => connection.abort(signal.reason);
                signal.addEventListener("abort", abortConnection);
                let hidden = false;
                const onVisibility = () => {
                    if (document.visibilityState === "hidden") {
                        hidden = true;
                        connection.abort(new DOMException("tab hidden", "AbortError"));
                    }
                };
                if (pause)
                    document.addEventListener("visibilitychange", onVisibility);
                let idle;
                const idleMs = this.transport.options.idleTimeoutMs ?? 45_000;
                const arm = () => {
                    clearTimeout(idle);
                    idle = setTimeout(() => connection.abort(new TransportError(`no data for ${idleMs} ms`)), idleMs);
                };
                const disarm = () => clearTimeout(idle);
                try {
                    const response = await this.connect(connection.signal);
                    if (response === "token-refreshed")
                        throw new TransportError("read token refused; retrying with a new one");
                    if (response.status === 204) {
                        const end = this.spec.noContent?.();
                        if (end !== undefined)
                            this.end = end;
                        this.save();
                        this.settle(this.end);
                        return undefined;
                    }
                    if (!response.body)
                        throw new ProtocolError("an SSE answer without a body");
                    arm();
                    for await (const frame of readSse(response.body, this.cursor ?? "")) {
                        // Frames already buffered must not slip out after a close, a hidden tab or an idle timeout.
                        if (connection.signal.aborted)
                            throw connection.signal.reason;
                        arm();
                        if (frame.comment !== undefined)
                            continue;
                        if (frame.event === "error") {
                            const error = errorFromBody(401, frame.data);
                            if (isTokenError(error) && this.transport.dropToken(this.spec.workflowId))
                                break;
                            throw error;
                        }
                        if (frame.event === "overflow")
                            break; // dropped for lagging: resume from the cursor
                        const outcome = this.spec.frame(frame, this.cursor);
                        if (outcome === null)
                            continue;
                        if ("reconnect" in outcome)
                            break;
                        if ("end" in outcome) {
                            this.end = outcome.end;
                            this.save();
                            this.settle(this.end);
                            return undefined;
                        }
                        this.cursor = outcome.cursor;
                        failures = 0;
                        disarm();
                        yield outcome.item;
                        // Saved once the consumer asked for the next item: the item was handled, a reload will not repeat it.
                        this.save();
                        arm();
                    }
                    lastError = new TransportError("the connection ended before the end frame");
                }
                catch (error) {
                    if (signal.aborted)
                        break;
                    if (hidden)
                        continue;
                    if (error instanceof ApiError && !RETRYABLE_STATUS.has(error.status))
                        throw error;
                    if (!(error instanceof ApiError) && !(error instanceof TransportError) && !isAbort(error)) {
                        if (!(error instanceof TypeError))
                            throw error; // a bug or a protocol error: do not hide it
                    }
                    lastError = error;
                }
                finally {
                    disarm();
                    signal.removeEventListener("abort", abortConnection);
                    if (pause)
                        document.removeEventListener("visibilitychange", onVisibility);
                }
                if (hidden)
                    continue;
                failures += 1;
                if (failures >= retry.maxAttempts)
                    throw new ReconnectsExhausted(failures, lastError);
                await sleep(backoffDelay(failures - 1, retry), signal).catch(() => undefined);
            }
            this.settle(undefined);
            return undefined;
        }
        catch (error) {
            this.fail(error);
            throw error;
        }
        finally {
            if (!signal.aborted)
                this.controller.abort();
            this.settle(this.end);
        }
    }
    /** Open one SSE connection from the cursor; an error answer becomes an ApiError (a refused token: refreshed). */
    async connect(signal) {
        const query = this.spec.query(this.cursor);
        const workflowId = this.spec.workflowId;
        if (this.transport.usesReadToken())
            query.access_token = await this.transport.readToken(workflowId);
        const headers = this.transport.headers({ Accept: "text/event-stream" });
        if (this.cursor !== undefined)
            headers["Last-Event-ID"] = this.cursor;
        const response = await this.transport.fetch(this.transport.url(this.spec.path, query), {
            headers,
            signal,
            cache: "no-store",
        });
        if (response.ok)
            return response;
        const error = errorFromBody(response.status, await response.text());
        if (isTokenError(error) && this.transport.dropToken(workflowId))
            return "token-refreshed";
        throw error;
    }
}
function isAbort(error) {
    return error?.name === "AbortError";
}
/** Resolve once the document is visible (at once when it is), or when `signal` aborts. */
function waitVisible(signal) {
    if (document.visibilityState !== "hidden" || signal.aborted)
        return Promise.resolve();
    return new Promise((resolve) => {
        const done = () => {
            document.removeEventListener("visibilitychange", onChange);
            signal.removeEventListener("abort", done);
            resolve();
        };
        const onChange = () => {
            if (document.visibilityState !== "hidden")
                done();
        };
        document.addEventListener("visibilitychange", onChange);
        signal.addEventListener("abort", done, { once: true });
    });
}
