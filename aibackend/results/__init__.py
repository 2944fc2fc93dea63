"""The results history: every ``aibackend loadtest`` and ``aibackend contract`` run, in one SQLite store.

- ``store``: the SQLite file itself (WAL, versioned schema, migrations, refusal of what is not a store);
- ``record``: what one run is (``RunRecord``), built from a load-test report or a contract target's
  results, with its provenance (git commit and hash of the config directory);
- ``figures``: reading figures generically (every numeric top-level key of a report), which way is
  better for each, comparisons and regressions;
- ``timeline``: the per-second series a run page charts, from the run's CSV of requests;
- ``options``: the ``--store`` / ``--no-store`` flags and the recording the commands call.
"""
