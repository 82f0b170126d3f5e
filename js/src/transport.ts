/** HTTP plumbing shared by the client and its live readers: URLs, credentials, JSON requests, retries. */
import { backoffDelay, sleep, type RetryOptions } from "./backoff.js";
import { ApiError, TransportError, errorFromBody } from "./errors.js";

/** What `getToken` may answer: a token, or the answer of `POST .../read-token` (its expiry is then honoured). */
export type TokenAnswer = string | { token: string; expires_at?: string | number | Date };

export interface ClientOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:8000` or `/comm` (relative URLs resolve against the page). */
  baseUrl: string;
  /** An API key (`Authorization: Bearer`): allows everything. Keep it out of browsers you do not control. */
  apiKey?: string;
  /** A read token for one workflow (`?access_token=`): reads of that workflow's events, streams and feed. */
  token?: string;
  /**
   * Returns a read token for a workflow; called before a read when no fresh token is cached, again shortly before
   * the one it gave expires (when it gave `expires_at`), and after the server answered `token_expired`.
   */
  getToken?: (workflowId: string) => TokenAnswer | Promise<TokenAnswer>;
  /** Your own `fetch` (default: the global one). */
  fetch?: typeof fetch;
  /** Retries of idempotent requests and reconnects of live reads. */
  retry?: RetryOptions;
  /** Milliseconds of silence after which a live connection counts as dropped (default 45000; heartbeats: 15 s). */
  idleTimeoutMs?: number;
}

/** Statuses worth retrying: the request did not happen, or the server is briefly unavailable. */
export const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);

/** A token is refreshed this long before it expires. */
const TOKEN_MARGIN_MS = 30_000;

interface CachedToken {
  token: string;
  expiresAt: number | undefined;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined | null>;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** The workflow whose read token authorises this request (reads under `/v1/workflows/{id}`). */
  readOf?: string;
  /** Retry transport failures and 429/502/503/504 (only for requests safe to repeat). */
  retry?: boolean;
  /** Statuses that are answers, not errors (e.g. 202 of a result long-poll, 204 of a finished feed). */
  accept?: number[];
}

export class Transport {
  readonly baseUrl: string;
  readonly options: ClientOptions;
  private readonly fetchImpl: typeof fetch;
  private readonly tokens = new Map<string, CachedToken>();

  constructor(options: ClientOptions) {
    if (!options || typeof options.baseUrl !== "string") throw new TypeError("Client: baseUrl is required");
    this.options = options;
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== "function") throw new TypeError("Client: no fetch available (Node >= 18 or a browser)");
    // Called unbound: window.fetch refuses another `this`.
    this.fetchImpl = (input, init) => f(input, init);
  }

  /** The absolute (or page-relative) URL of `path` with `query`. */
  url(path: string, query: RequestOptions["query"] = {}): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null) params.set(k, String(v));
    }
    const text = params.toString();
    return `${this.baseUrl}${path}${text ? `?${text}` : ""}`;
  }

  /** Headers with the API key, when there is one. */
  headers(extra: Record<string, string> = {}): Record<string, string> {
    const headers: Record<string, string> = { ...extra };
    if (this.options.apiKey) headers.Authorization = `Bearer ${this.options.apiKey}`;
    return headers;
  }

  /** Whether reads of a workflow go out with a read token (no API key, and a token or a way to get one). */
  usesReadToken(): boolean {
    return !this.options.apiKey && (this.options.token !== undefined || this.options.getToken !== undefined);
  }

  /** A read token for `workflowId`: the configured one, or a cached one from `getToken` (refreshed near expiry). */
  async readToken(workflowId: string, refresh = false): Promise<string | undefined> {
    const { getToken, token } = this.options;
    if (!getToken) return token;
    const cached = this.tokens.get(workflowId);
    const fresh = cached && (cached.expiresAt === undefined || cached.expiresAt - Date.now() > TOKEN_MARGIN_MS);
    if (cached && fresh && !refresh) return cached.token;
    const answer = await getToken(workflowId);
    const entry: CachedToken =
      typeof answer === "string"
        ? { token: answer, expiresAt: undefined }
        : { token: answer.token, expiresAt: answer.expires_at === undefined ? undefined : new Date(answer.expires_at).getTime() };
    this.tokens.set(workflowId, entry);
    return entry.token;
  }

  /** Forget a cached token (the server refused it). Returns whether a new one can be asked for. */
  dropToken(workflowId: string): boolean {
    this.tokens.delete(workflowId);
    return this.options.getToken !== undefined;
  }

  /** `fetch` with the failure turned into a {@link TransportError} (an abort stays an abort). */
  async fetch(url: string, init: RequestInit): Promise<Response> {
    try {
      return await this.fetchImpl(url, init);
    } catch (error) {
      if (init.signal?.aborted) throw init.signal.reason ?? error;
      throw new TransportError(`cannot reach ${url.split("?")[0]}: ${(error as Error)?.message ?? error}`, { cause: error });
    }
  }

  /** One JSON request; the answer's JSON (or `undefined` for an empty body). Errors are {@link ApiError}s. */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<{ status: number; body: T }> {
    let attempt = 0;
    let tokenRetried = false;
    const retry = this.options.retry ?? {};
    for (;;) {
      const query = { ...opts.query };
      if (opts.readOf !== undefined && this.usesReadToken()) {
        const token = await this.readToken(opts.readOf);
        if (token) query.access_token = token;
      }
      const headers = this.headers({ Accept: "application/json", ...opts.headers });
      let body: string | undefined;
      if (opts.body !== undefined) {
        headers["Content-Type"] = "application/json";
        body = JSON.stringify(opts.body);
      }
      const init: RequestInit = { method, headers, body: body ?? null };
      if (opts.signal) init.signal = opts.signal;
      let response: Response;
      try {
        response = await this.fetch(this.url(path, query), init);
      } catch (error) {
        if (opts.retry && error instanceof TransportError && attempt + 1 < (retry.maxAttempts ?? 4)) {
          await sleep(backoffDelay(attempt++, retry), opts.signal);
          continue;
        }
        throw error;
      }
      const text = await response.text();
      if (response.ok || opts.accept?.includes(response.status)) {
        return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
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
export function isTokenError(error: unknown): boolean {
  return error instanceof ApiError && (error.code === "token_expired" || error.code === "token_invalid");
}
