// generated from js/ by .ci/gen_dashboard_client.py: do not edit
/** HTTP plumbing shared by the client and its live readers: URLs, credentials, JSON requests, retries. */
import { backoffDelay, sleep } from "./backoff.js";
import { ApiError, TransportError, errorFromBody } from "./errors.js";
/** Statuses worth retrying: the request did not happen, or the server is briefly unavailable. */
export const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
/** A token is refreshed this long before it expires. */
const TOKEN_MARGIN_MS = 30_000;
export class Transport {
    baseUrl;
    options;
    fetchImpl;
    tokens = new Map();
    constructor(options) {
        if (!options || typeof options.baseUrl !== "string")
            throw new TypeError("Client: baseUrl is required");
        this.options = options;
        this.baseUrl = options.baseUrl.replace(/\/+$/, "");
        const f = options.fetch ?? globalThis.fetch;
        if (typeof f !== "function")
            throw new TypeError("Client: no fetch available (Node >= 18 or a browser)");
        // Called unbound: window.fetch refuses another `this`.
        this.fetchImpl = (input, init) => f(input, init);
    }
    /** The absolute (or page-relative) URL of `path` with `query`. */
    url(path, query = {}) {
        const params = new URLSearchParams();
        for (const [k, v] of Object.entries(query)) {
            if (v !== undefined && v !== null)
                params.set(k, String(v));
        }
        const text = params.toString();
        return `${this.baseUrl}${path}${text ? `?${text}` : ""}`;
    }
    /** Headers with the API key, when there is one. */
    headers(extra = {}) {
        const headers = { ...extra };
        if (this.options.apiKey)
            headers.Authorization = `Bearer ${this.options.apiKey}`;
        return headers;
    }
    /** Whether reads of a workflow go out with a read token (no API key, and a token or a way to get one). */
    usesReadToken() {
        return !this.options.apiKey && (this.options.token !== undefined || this.options.getToken !== undefined);
    }
    /** A read token for `workflowId`: the configured one, or a cached one from `getToken` (refreshed near expiry). */
    async readToken(workflowId, refresh = false) {
        const { getToken, token } = this.options;
        if (!getToken)
            return token;
        const cached = this.tokens.get(workflowId);
        const fresh = cached && (cached.expiresAt === undefined || cached.expiresAt - Date.now() > TOKEN_MARGIN_MS);
        if (cached && fresh && !refresh)
            return cached.token;
        const answer = await getToken(workflowId);
        const entry = typeof answer === "string"
            ? { token: answer, expiresAt: undefined }
            : { token: answer.token, expiresAt: answer.expires_at === undefined ? undefined : new Date(answer.expires_at).getTime() };
        this.tokens.set(workflowId, entry);
        return entry.token;
    }
    /** Forget a cached token (the server refused it). Returns whether a new one can be asked for. */
    dropToken(workflowId) {
        this.tokens.delete(workflowId);
        return this.options.getToken !== undefined;
    }
    /** `fetch` with the failure turned into a {@link TransportError} (an abort stays an abort). */
    async fetch(url, init) {
        try {
            return await this.fetchImpl(url, init);
        }
        catch (error) {
            if (init.signal?.aborted)
                throw init.signal.reason ?? error;
            throw new TransportError(`cannot reach ${url.split("?")[0]}: ${error?.message ?? error}`, { cause: error });
        }
    }
    /** One JSON request; the answer's JSON (or `undefined` for an empty body). Errors are {@link ApiError}s. */
    async request(method, path, opts = {}) {
        let attempt = 0;
        let tokenRetried = false;
        const retry = this.options.retry ?? {};
        for (;;) {
            const query = { ...opts.query };
            if (opts.readOf !== undefined && this.usesReadToken()) {
                const token = await this.readToken(opts.readOf);
                if (token)
                    query.access_token = token;
            }
            const headers = this.headers({ Accept: "application/json", ...opts.headers });
            let body;
            if (opts.body !== undefined) {
                headers["Content-Type"] = "application/json";
                body = JSON.stringify(opts.body);
            }
            const init = { method, headers, body: body ?? null };
            if (opts.signal)
                init.signal = opts.signal;
            let response;
            try {
                response = await this.fetch(this.url(path, query), init);
            }
            catch (error) {
                if (opts.retry && error instanceof TransportError && attempt + 1 < (retry.maxAttempts ?? 4)) {
                    await sleep(backoffDelay(attempt++, retry), opts.signal);
                    continue;
                }
                throw error;
            }
            const text = await response.text();
            if (response.ok || opts.accept?.includes(response.status)) {
                return { status: response.status, body: (text ? JSON.parse(text) : undefined) };
            }
            const error = errorFromBody(response.status, text);
            if (opts.retry && RETRYABLE_STATUS.has(response.status) && attempt + 1 < (retry.maxAttempts ?? 4)) {
                await sleep(backoffDelay(attempt++, retry), opts.signal);
                continue;
            }
            if (isTokenError(error) && opts.readOf !== undefined && !tokenRetried && this.dropToken(opts.readOf)) {
                tokenRetried = true;
                continue;
            }
            throw error;
        }
    }
}
/** A read token the server refused as expired or invalid: worth one fresh token. */
export function isTokenError(error) {
    return error instanceof ApiError && (error.code === "token_expired" || error.code === "token_invalid");
}
