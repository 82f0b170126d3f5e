// generated from js/ by .ci/gen_dashboard_client.py: do not edit
/** Base of every error the client raises. */
export class ClientError extends Error {
    constructor(message, options) {
        super(message, options);
        this.name = new.target.name;
    }
}
/**
 * An error answer of the server: its HTTP `status` and the envelope's stable `code`, `message` and `details`
 * (`{"error": {"code", "message", "details"}}`). Subclasses mirror the server's error tree (errors.generated.ts).
 */
export class ApiError extends ClientError {
    status;
    code;
    details;
    constructor(status, code, message, details = {}) {
        super(message);
        this.status = status;
        this.code = code;
        this.details = details;
    }
}
