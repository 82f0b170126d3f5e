"""Streams: listing, snapshots from offsets with limits, closed and complete flags."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support.inprocess import result, start


def test_snapshot_pages_through_the_whole_stream(client: TestClient) -> None:
    start(client, "streaming", "st-page", n_steps=4)
    result(client, "st-page")
    seen: list[dict[str, object]] = []
    offset = 0
    while True:
        page = client.get("/v1/workflows/st-page/streams/progress_stream", params={"offset": offset, "limit": 3}).json()
        assert [v["offset"] for v in page["values"]] == list(range(offset, offset + len(page["values"])))
        seen.extend(v["value"] for v in page["values"])
        offset = page["next_offset"]
        if page["complete"]:
            break
    assert len(seen) == 2 * 4 + 2
    assert [v["type"] for v in seen] == ["start"] + ["progress", "result"] * 4 + ["complete"]
    assert all(isinstance(v["timestamp"], float) for v in seen)


def test_stream_listing_and_closed_flag(client: TestClient) -> None:
    start(client, "streaming", "st-list", n_steps=2)
    result(client, "st-list")
    body = client.get("/v1/workflows/st-list/streams").json()
    assert body["streams"] == [{"key": "progress_stream", "length": 6, "closed": True}]
    tail = client.get("/v1/workflows/st-list/streams/progress_stream", params={"offset": 6}).json()
    assert tail["values"] == [] and tail["closed"] is True and tail["next_offset"] == 6


def test_unwritten_stream_is_empty_and_unknown_workflow_404(client: TestClient) -> None:
    start(client, "events", "st-none", n_steps=1)
    result(client, "st-none")
    page = client.get("/v1/workflows/st-none/streams/nothing").json()
    assert page["values"] == [] and page["closed"] is False and page["complete"] is True
    assert client.get("/v1/workflows/st-none/streams").json()["streams"] == []
    r = client.get("/v1/workflows/ghost/streams/progress_stream")
    assert r.status_code == 404 and r.json()["error"]["code"] == "workflow_not_found"


def test_limit_and_offset_are_validated(client: TestClient) -> None:
    start(client, "events", "st-val", n_steps=1)
    assert client.get("/v1/workflows/st-val/streams/s", params={"limit": 0}).status_code == 422
    assert client.get("/v1/workflows/st-val/streams/s", params={"offset": -1}).status_code == 422
    assert client.get("/v1/workflows/st-val/streams/bad key").status_code == 422
