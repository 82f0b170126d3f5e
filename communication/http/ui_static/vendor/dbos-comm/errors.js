// generated from js/ by .ci/gen_dashboard_client.py: do not edit
import { ApiError, ClientError } from "./api-error.js";
import * as generated from "./errors.generated.js";
import { ERROR_CLASSES } from "./errors.generated.js";
export { ApiError, ClientError } from "./api-error.js";
export * from "./errors.generated.js";
/** The server could not be reached, or the connection broke (fetch failed). */
export class TransportError extends ClientError {
}
/** A live read failed to reconnect `attempts` times in a row. */
export class ReconnectsExhausted extends TransportError {
    attempts;
    constructor(attempts, cause) {
        super(`gave up after ${attempts} failed reconnects: ${String(cause?.message ?? cause)}`, { cause });
        this.attempts = attempts;
    }
}
/** The server answered something outside the contract (not JSON, a bad SSE frame). */
export class ProtocolError extends ClientError {
}
/** A 5xx answer without a code this client knows. */
export class ServerError extends ApiError {
}
function byStatus(status) {
    if (status === 401)
        return generated.Unauthorized;
    if (status === 403)
        return generated.Forbidden;
    if (status === 404)
        return generated.NotFound;
    if (status === 409)
        return generated.Conflict;
    if (status === 410)
        return generated.Gone;
    if (status === 503)
        return generated.ServiceUnavailable;
    if (status >= 500)
        return ServerError;
    if (status >= 400)
        return generated.InvalidRequest;
    return ApiError;
}
/** Whether `code` is one the server documents. */
export function isErrorCode(code) {
    return Object.prototype.hasOwnProperty.call(ERROR_CLASSES, code);
}
/**
 * The error object for an error answer: the class of its `code` (same name as the server's), or for a code this
 * client does not know yet, the family of its HTTP status.
 */
export function apiError(status, code, message, details = {}) {
    const cls = isErrorCode(code) ? ERROR_CLASSES[code] : byStatus(status);
    return new cls(status, code, message, details);
}
/** Parse an error answer's body (the JSON envelope, or anything else) into an {@link ApiError}. */
export function errorFromBody(status, text) {
    try {
        const body = JSON.parse(text);
        const error = body?.error;
        if (error && typeof error.code === "string") {
            const details = error.details && typeof error.details === "object" ? error.details : {};
            return apiError(status, error.code, String(error.message ?? error.code), details);
        }
    }
    catch {
        // not JSON: fall through to a status-only error
    }
    return apiError(status, `http_${status}`, text.slice(0, 200) || `HTTP ${status}`);
}
