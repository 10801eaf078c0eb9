"""Benchmark harness for livetrade: ``python -m benchmarks [--quick] [--json F] [--only ...]``.

The machine this runs on is shared and noisy, so no figure here is meaningful alone: every
suite measures its own baseline in the same run (usually a bare ``queue.PriorityQueue`` with
the dispatcher's tuple shape, or a bare ``Dispatcher``), interleaved with the measurement,
and the *ratio* is the result. Absolute numbers are printed for context only.

Layout (imports point down: suites use the shared modules, never each other):

* :mod:`benchmarks.cli` — argument parsing, running, the table and the JSON file;
* :mod:`benchmarks.registry` — the suites, in order, including ones not yet available;
* :mod:`benchmarks.variants` — the pipeline variants (layers toggled on/off) that the
  throughput suite runs; later issues add their layers there;
* :mod:`benchmarks.config` — per-mode sizes (``smoke``, ``quick``, ``full``);
* :mod:`benchmarks.baseline` — the bare-queue floor primitives;
* :mod:`benchmarks.workloads` — events, probe strategies and engine builders shared by suites;
* :mod:`benchmarks.statebench` — the state benchmarks' book, settings and engines (suite 6,
  the state variants, and :mod:`benchmarks.restore_child`, the engine process suite 6
  kills with SIGKILL);
* :mod:`benchmarks.pacing`, :mod:`benchmarks.stats`, :mod:`benchmarks.results` — helpers.

Everything runs in-process, over in-memory queues (no sockets), except suite 6's crash
drill, which runs one engine subprocess (killed on every way out) and writes its stores to
a temporary directory (removed afterwards); every loop is bounded by an event count and a
wall-clock deadline.
"""
