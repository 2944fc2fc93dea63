"""``aibackend dashboard``: a read-only web dashboard over the results store and the config.

- ``app``: the Flask application (pages ``/``, ``/runs``, ``/runs/ID``, ``/compare``, ``/trends``);
- ``overview``: the first page's data (providers, routing, gateway, live health);
- ``serve``: binding (127.0.0.1 unless told otherwise, with a warning) and serving, in the
  foreground or on a thread (the demo's ``--keep-running``);
- ``templates/``, ``static/``: the pages, ``charts.js`` and the vendored uPlot (``static/vendor/uplot``,
  see its PINS.md), shipped in the wheel: the dashboard works offline.
"""

DEFAULT_HOST = "127.0.0.1"  # this machine only, unless told otherwise
DEFAULT_PORT = 8050
