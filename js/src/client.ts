/** The entry point: `new Client({ baseUrl, apiKey?, token?, getToken? })`. */
import { Transport, type ClientOptions } from "./transport.js";
import type { AnswerResult, InboxList, WorkflowInfo, WorkflowTypeMap } from "./types.js";
import { Workflow } from "./workflow.js";

/** One registered type as `GET /v1/workflow-types` lists it. */
export interface WorkflowTypeInfo {
  type: string;
  description: string;
  input_schema: Record<string, unknown>;
  output_schema?: Record<string, unknown>;
  call_style?: "dict" | "kwargs";
  queue?: string | null;
  tags?: string[];
}

export interface StartOptions {
  /** Your id for the workflow: starting it again returns the existing one (nothing runs twice). */
  workflowId?: string;
  /** A DBOS queue to enqueue on (and, for a type this server does not have, the other application's queue). */
  queue?: string;
  signal?: AbortSignal;
}

/**
 * A client of one dbos-comm server. Generic over a map of workflow types (`wfc codegen ts` writes one), so
 * `new Client<WorkflowTypes>(...)` checks `start`'s type names and inputs at compile time.
 */
export class Client<T extends WorkflowTypeMap = WorkflowTypeMap> {
  /** @internal */
  readonly transport: Transport;

  constructor(options: ClientOptions) {
    this.transport = new Transport(options);
  }

  /** The server's base URL (without a trailing slash). */
  get baseUrl(): string {
    return this.transport.baseUrl;
  }

  /**
   * Start workflow type `type` with `input` (`POST /v1/workflows`). The handle's `created` is false when
   * `workflowId` already existed (then nothing was started). Retried on transport failures only with a
   * `workflowId`, which makes the start idempotent.
   */
  async start<K extends keyof T & string>(
    type: K,
    input: T[K]["input"],
    options: StartOptions = {},
  ): Promise<Workflow<T[K]["output"]>> {
    const body: Record<string, unknown> = { type, input };
    if (options.workflowId !== undefined) body.workflow_id = options.workflowId;
    if (options.queue !== undefined) body.queue = options.queue;
    const { status, body: info } = await this.transport.request<WorkflowInfo>("POST", "/v1/workflows", {
      body,
      retry: options.workflowId !== undefined,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const handle = new Workflow<T[K]["output"]>(this.transport, info.workflow_id);
    handle.created = status === 201;
    handle.info = info;
    return handle;
  }

  /** A handle on workflow `id` (no request is made). */
  workflow<K extends keyof T & string = keyof T & string>(id: string): Workflow<T[K]["output"]> {
    return new Workflow<T[K]["output"]>(this.transport, id);
  }

  /**
   * Requests for human input across every application on the server's database, latest deadline first
   * (needs an API key). `status`: "open" (default), "answered", "expired", "cancelled" or "all".
   */
  async inbox(options: { status?: string; application?: string; assignee?: string; limit?: number } = {}): Promise<InboxList> {
    const query = {
      status: options.status ?? "open",
      application: options.application,
      assignee: options.assignee,
      limit: options.limit,
    };
    return (await this.transport.request<InboxList>("GET", "/v1/inbox", { query, retry: true })).body;
  }

  /**
   * Answer the request on `topic` of workflow `workflowId`; checked against the request's schema and delivered
   * exactly once. Throws `AnswerInvalid` (422, `details.errors`), `AlreadyAnswered` (409), `RequestClosed` (410) or
   * `RequestNotFound` (404).
   */
  async answer(workflowId: string, topic: string, answer: unknown): Promise<AnswerResult> {
    const path = `/v1/workflows/${encodeURIComponent(workflowId)}/requests/${encodeURIComponent(topic)}/answer`;
    return (await this.transport.request<AnswerResult>("POST", path, { body: answer, query: { via: "client" } })).body;
  }

  /** Every workflow type the server can start, with its input (and output) JSON schema. */
  async workflowTypes(): Promise<WorkflowTypeInfo[]> {
    return (await this.transport.request<WorkflowTypeInfo[]>("GET", "/v1/workflow-types", { retry: true })).body;
  }
}
