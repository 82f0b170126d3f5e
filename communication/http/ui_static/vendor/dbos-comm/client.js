// generated from js/ by .ci/gen_dashboard_client.py: do not edit
/** The entry point: `new Client({ baseUrl, apiKey?, token?, getToken? })`. */
import { Transport } from "./transport.js";
import { Workflow } from "./workflow.js";
/**
 * A client of one dbos-comm server. Generic over a map of workflow types (`wfc codegen ts` writes one), so
 * `new Client<WorkflowTypes>(...)` checks `start`'s type names and inputs at compile time.
 */
export class Client {
    /** @internal */
    transport;
    constructor(options) {
        this.transport = new Transport(options);
    }
    /** The server's base URL (without a trailing slash). */
    get baseUrl() {
        return this.transport.baseUrl;
    }
    /**
     * Start workflow type `type` with `input` (`POST /v1/workflows`). The handle's `created` is false when
     * `workflowId` already existed (then nothing was started). Retried on transport failures only with a
     * `workflowId`, which makes the start idempotent.
     */
    async start(type, input, options = {}) {
        const body = { type, input };
        if (options.workflowId !== undefined)
            body.workflow_id = options.workflowId;
        if (options.queue !== undefined)
            body.queue = options.queue;
        const { status, body: info } = await this.transport.request("POST", "/v1/workflows", {
            body,
            retry: options.workflowId !== undefined,
            ...(options.signal ? { signal: options.signal } : {}),
        });
        const handle = new Workflow(this.transport, info.workflow_id);
        handle.created = status === 201;
        handle.info = info;
        return handle;
    }
    /** A handle on workflow `id` (no request is made). */
    workflow(id) {
        return new Workflow(this.transport, id);
    }
    /**
     * Requests for human input across every application on the server's database, latest deadline first
     * (needs an API key). `status`: "open" (default), "answered", "expired", "cancelled" or "all".
     */
    async inbox(options = {}) {
        const query = {
            status: options.status ?? "open",
            application: options.application,
            assignee: options.assignee,
            limit: options.limit,
        };
        return (await this.transport.request("GET", "/v1/inbox", { query, retry: true })).body;
    }
    /**
     * Answer the request on `topic` of workflow `workflowId`; checked against the request's schema and delivered
     * exactly once. Throws `AnswerInvalid` (422, `details.errors`), `AlreadyAnswered` (409), `RequestClosed` (410) or
     * `RequestNotFound` (404).
     */
    async answer(workflowId, topic, answer) {
        const path = `/v1/workflows/${encodeURIComponent(workflowId)}/requests/${encodeURIComponent(topic)}/answer`;
        return (await this.transport.request("POST", path, { body: answer, query: { via: "client" } })).body;
    }
    /** Every workflow type the server can start, with its input (and output) JSON schema. */
    async workflowTypes() {
        return (await this.transport.request("GET", "/v1/workflow-types", { retry: true })).body;
    }
}
