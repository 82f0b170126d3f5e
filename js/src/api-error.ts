/** Base of every error the client raises. */
export class ClientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * An error answer of the server: its HTTP `status` and the envelope's stable `code`, `message` and `details`
 * (`{"error": {"code", "message", "details"}}`). Subclasses mirror the server's error tree (errors.generated.ts).
 */
export class ApiError extends ClientError {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;

  constructor(status: number, code: string, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}
