"""``aibackend top``: a live terminal view of the gateway, refreshed every second (Textual).

- ``metrics``: reading the gateway's Prometheus text (LiteLLM's ``/metrics/``) and histogram quantiles;
- ``window``: per model group and per backend, over the last seconds: requests/s, errors, p50/p95
  latency, from the request log (exact) or from metric deltas (when no log can be read);
- ``source``: where the figures come from (the log file, ``/metrics/``, the providers' health probes)
  and one ``Snapshot`` per refresh;
- ``app``: the Textual application (q quits, arrows select, g/p/tab toggles groups and providers).
"""
