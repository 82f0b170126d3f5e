"""``GET /metrics``: the process's Prometheus metrics (see communication/metrics.py for what each one counts)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from communication.core.ops.metrics import render

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    summary="Prometheus metrics of this process",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition format."}},
)
async def metrics() -> Response:
    """Counters, gauges and histograms of this process in the Prometheus text format."""
    body, content_type = render()
    return Response(content=body, media_type=content_type)
