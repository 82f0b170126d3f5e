// HTTP access to the public API: the API key (sessionStorage) and JSON fetches with the error envelope.

const KEY_STORAGE = 'dbos-comm.api-key';

/** An error answered by the server: {error: {code, message, details}}, or a network failure (code 'network'). */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

/** "code: message (field: problem; ...)" for a toast. */
export function describeError(err) {
  const errors = err.details && Array.isArray(err.details.errors) ? err.details.errors : [];
  const fields = errors.slice(0, 3).map((e) => `${(e.loc || []).join('.')}: ${e.msg}`).join('; ');
  return `${err.code || 'error'}: ${err.message}${fields ? ` (${fields})` : ''}`;
}

export function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) || '';
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

// Listeners told when the server answers 401 to a request made with the current key (or none).
const unauthorizedListeners = new Set();
export function onUnauthorized(listener) {
  unauthorizedListeners.add(listener);
}

/**
 * Fetch `path` and return `{status, body}` (body parsed from JSON, or null when empty).
 * Throws ApiError for 4xx/5xx answers and for network failures.
 */
export async function request(method, path, body, extraHeaders) {
  const headers = { Accept: 'application/json', ...(extraHeaders || {}) };
  const key = apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  const init = { method, headers };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, 'network', `network error: ${err.message}`);
  }
  const text = await response.text();
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  if (!response.ok) {
    const err = parsed && parsed.error ? parsed.error : { code: 'http_' + response.status, message: text };
    if (response.status === 401) unauthorizedListeners.forEach((listener) => listener(err));
    throw new ApiError(response.status, err.code, err.message || response.statusText, err.details);
  }
  return { status: response.status, body: parsed };
}

export const get = async (path) => (await request('GET', path)).body;
export const post = async (path, body, headers) => (await request('POST', path, body, headers)).body;

/** `/v1/workflows/{id}` with the id escaped. */
export function workflowPath(workflowId, suffix = '') {
  return `/v1/workflows/${encodeURIComponent(workflowId)}${suffix}`;
}

/** Query string from an object, skipping null/undefined/'' values. */
export function query(params) {
  const usp = new URLSearchParams();
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== null && value !== undefined && value !== '') usp.set(name, String(value));
  }
  const text = usp.toString();
  return text ? `?${text}` : '';
}

/**
 * Forget cached read tokens after the key changed. None are kept here: each workflow view's feed client mints
 * its own (`POST .../read-token`) and drops them with the view, which the key dialog re-renders.
 */
export function forgetTokens() {}
