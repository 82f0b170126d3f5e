/** Wire shapes of the dbos-comm HTTP API (QUICK_REFERENCE.md). */

/** DBOS workflow statuses; other strings may appear with newer DBOS versions. */
export type WorkflowStatus =
  | "PENDING"
  | "ENQUEUED"
  | "SUCCESS"
  | "ERROR"
  | "CANCELLED"
  | "MAX_RECOVERY_ATTEMPTS_EXCEEDED"
  | (string & {});

/** A map from workflow type name to its input and output, e.g. the `WorkflowTypes` of `wfc codegen ts`. */
export type WorkflowTypeMap = Record<string, { input: unknown; output: unknown }>;

/** `GET /v1/workflows/{id}` and the answer of a start or cancel. */
export interface WorkflowInfo {
  workflow_id: string;
  type: string | null;
  status: WorkflowStatus;
  created_at: string | null;
  updated_at: string | null;
  executor_id?: string | null;
  queue_name?: string | null;
  forked_from?: string | null;
  input?: unknown;
  output?: unknown;
  error?: unknown;
}

/** `GET /v1/workflows/{id}/result`: `done: false` when the wait ended before the workflow. */
export interface WorkflowResult<O = unknown> {
  workflow_id?: string;
  done: boolean;
  status?: WorkflowStatus;
  output?: O | null;
  error?: unknown;
}

/** One event value: `version` increases with every `set_event` of the workflow, across keys. */
export interface EventValue<V = unknown> {
  workflow_id?: string;
  key: string;
  value: V;
  version: number;
}

/** `GET /v1/workflows/{id}/events`. */
export interface EventsSnapshot {
  workflow_id: string;
  status: WorkflowStatus;
  events: Record<string, { value: unknown; version: number }>;
}

/** One stream value at its durable offset. */
export interface StreamItem<V = unknown> {
  offset: number;
  value: V;
}

/** How a live stream or event watch ended (`event: end`). */
export interface LiveEnd {
  reason: "closed" | "workflow_finished" | "value_not_decodable" | "error" | (string & {});
  next_offset?: number;
  workflow_status?: WorkflowStatus;
  [key: string]: unknown;
}

/** `POST /v1/workflows/{id}/messages`. */
export interface SendResult {
  workflow_id: string;
  topic: string;
  idempotency_key: string | null;
  outcome: "delivered" | "duplicate";
}

/** `POST /v1/workflows/{id}/read-token`. */
export interface ReadToken {
  token: string;
  workflow_id: string;
  expires_at: string;
  query_param: string;
}

/** A frame's `error` instead of a value (e.g. `value_not_decodable`). */
export interface FrameError {
  code: string;
  message?: string;
  details?: Record<string, unknown>;
}

/** Feed frames (`GET /v1/workflows/{id}/feed`), each with an opaque cursor. */
export type FeedFrame =
  | { kind: "status"; status: WorkflowStatus; cursor?: string }
  | { kind: "event"; key: string; value?: unknown; version: number; error?: FrameError; cursor?: string }
  | { kind: "stream"; key: string; offset: number; value?: unknown; error?: FrameError; cursor?: string }
  | { kind: "end"; status: WorkflowStatus; output?: unknown; error?: unknown; cursor?: string };

export type FeedEnd = Extract<FeedFrame, { kind: "end" }>;

/** A request for human input (`ask` in a workflow), as the inbox lists it. */
export interface InboxItem {
  workflow_id: string;
  workflow_name: string | null;
  workflow_status: string;
  application: string | null;
  topic: string;
  seq: number;
  prompt: string;
  /** JSON schema of a valid answer. */
  schema: Record<string, unknown>;
  created_at: string;
  deadline: string;
  assignees: string[];
  status: "open" | "answered" | "expired" | "cancelled";
  closed_at: string | null;
  links: Record<string, string | null>;
}

/** `GET /v1/inbox`. */
export interface InboxList {
  requests: InboxItem[];
}

/** The answer to a request, delivered exactly once. */
export interface AnswerResult {
  workflow_id: string;
  topic: string;
  seq: number;
  outcome: "delivered";
}
