"""The benchmark behind ``jobs/benchmark.py`` (see its docstring), by concern.

- :mod:`bench.config`: the command line and the constants shared by the modules;
- :mod:`bench.data`: the generated inputs (cases) and their per-cell targets;
- :mod:`bench.methods`: the Spark methods (floor, library, job, tutorial);
- :mod:`bench.peers`: the single-machine peers, run in a subprocess;
- :mod:`bench.measure`: the probes (time, CPU, memory) and the untimed output checks;
- :mod:`bench.report`: the Markdown tables and the raw JSON;
- :mod:`bench.runner`: the session and the loop over cases, repeats and methods.

Only :mod:`bench.runner` and what it imports load PySpark; a peer's subprocess imports
:mod:`bench.peers` and :mod:`bench.config` only.
"""
