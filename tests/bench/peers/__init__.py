"""Peer implementations of seatmeter's core job, for the three-way benchmark (tests.bench.three_way).

Each runs as a process of its own, as the worker does, so chDB (one engine per process) and the
timing stay per process; each prints one JSON line that the driver checks against the ledger.
"""
