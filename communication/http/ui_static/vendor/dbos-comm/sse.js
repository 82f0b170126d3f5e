// generated from js/ by .ci/gen_dashboard_client.py: do not edit
/**
 * A small Server-Sent Events reader over `fetch` (EventSource cannot send an `Authorization` header, nor choose
 * when and how to reconnect). Parses `text/event-stream` as the HTML standard says: `data:` lines joined by
 * newlines, `event:`, `id:` (kept as the last event id), comments (`:` lines, e.g. heartbeats), CR / LF / CRLF.
 */
/** Read SSE frames from a response body until it ends. */
export async function* readSse(body, lastEventId = "") {
    const reader = body.getReader();
    const decoder = new TextDecoder("utf-8");
    let buffer = "";
    let data = [];
    let event = "";
    let id;
    let lastId = lastEventId;
    let first = true;
    try {
        for (;;) {
            const { value, done } = await reader.read();
            if (done)
                return; // an incomplete last frame is dropped, as the standard says
            buffer += decoder.decode(value, { stream: true });
            if (first && buffer.length > 0) {
                if (buffer.charCodeAt(0) === 0xfeff)
                    buffer = buffer.slice(1);
                first = false;
            }
            for (;;) {
                const match = /\r\n|\r|\n/.exec(buffer);
                if (!match)
                    break;
                // A lone CR at the end may be half of a CRLF still in flight.
                if (match[0] === "\r" && match.index === buffer.length - 1)
                    break;
                const line = buffer.slice(0, match.index);
                buffer = buffer.slice(match.index + match[0].length);
                if (line === "") {
                    if (id !== undefined)
                        lastId = id;
                    if (data.length > 0) {
                        yield { event: event || "message", data: data.join("\n"), id, lastEventId: lastId };
                    }
                    data = [];
                    event = "";
                    id = undefined;
                    continue;
                }
                if (line.startsWith(":")) {
                    yield { event: "", data: "", id: undefined, lastEventId: lastId, comment: line.slice(1).trim() };
                    continue;
                }
                const colon = line.indexOf(":");
                const field = colon < 0 ? line : line.slice(0, colon);
                let text = colon < 0 ? "" : line.slice(colon + 1);
                if (text.startsWith(" "))
                    text = text.slice(1);
                if (field === "data")
                    data.push(text);
                else if (field === "event")
                    event = text;
                else if (field === "id" && !text.includes("\0"))
                    id = text;
                // `retry:` is ignored: reconnect timing is this client's (backoff with jitter).
            }
        }
    }
    finally {
        // Frees the connection when the consumer stops early; harmless after the body ended.
        await reader.cancel().catch(() => undefined);
    }
}
