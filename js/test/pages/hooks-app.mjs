// React test page for dbos-comm/react: ?server=URL&wf=ID&view=hooks|workflow
import { createElement as h } from "react";
import { createRoot } from "react-dom/client";
import { Client } from "../../dist/index.js";
import { DbosCommProvider, useEvent, useStream, useWorkflow } from "../../dist/react/index.js";

const params = new URLSearchParams(location.search);
const client = new Client({ baseUrl: params.get("server") });
const id = params.get("wf");

function StreamList() {
  const { items, end, error } = useStream(id, "progress_stream", { offset: Number(params.get("offset") ?? 0) });
  return h(
    "section",
    { id: "stream" },
    h("ol", null, items.map((i) => h("li", { key: i.offset, "data-offset": i.offset }, i.value.type))),
    end ? h("p", { id: "stream-end" }, end.reason) : null,
    error ? h("p", { id: "stream-error" }, String(error)) : null,
  );
}

function StatusEvent() {
  const { value, version, isSet, end } = useEvent(id, "status");
  return h("p", { id: "event", "data-version": isSet ? version : "", "data-ended": end ? "yes" : "no" }, String(value ?? ""));
}

function WorkflowPanel() {
  const { status, events, streams, result, error, send } = useWorkflow(id);
  return h(
    "section",
    { id: "workflow" },
    h("p", { id: "status" }, status ?? ""),
    h("p", { id: "event-status" }, String(events.status?.value ?? "")),
    h("p", { id: "stream-count" }, String((streams.progress_stream ?? []).length)),
    h("button", { id: "approve", onClick: () => send("notification", { approved: true, message: "via useWorkflow" }, { idempotencyKey: `ok-${id}` }).then((r) => (document.getElementById("sent").textContent = r.outcome)) }, "approve"),
    h("span", { id: "sent" }),
    result ? h("pre", { id: "result" }, JSON.stringify(result)) : null,
    error ? h("p", { id: "error" }, String(error)) : null,
  );
}

const view = params.get("view") === "workflow" ? h(WorkflowPanel) : h("div", null, h(StreamList), h(StatusEvent));
createRoot(document.getElementById("root")).render(h(DbosCommProvider, { client }, view));
