// generated from js/ by .ci/gen_dashboard_client.py: do not edit
/** Wire shapes of the dbos-comm HTTP API (QUICK_REFERENCE.md). */
export {};
