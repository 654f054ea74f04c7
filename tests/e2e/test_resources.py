"""Bursts of 1,000 concurrent session and stream opens and closes keep the native server's threads and
memory bounded (issue 14): session-store writes queue for one writer thread (group commit) and tokio's
blocking pool is capped, instead of a thread per request.

On the 2-core development machine (`bash bench/run-resources.sh`) the whole burst peaks at 4 threads
and ~41 MB RSS; before, it took 515 threads and 696 MB. The bounds below are loose, so a slower or
larger CI machine passes, while a thread per request (hundreds) or a megabyte per session fails."""

from __future__ import annotations

import asyncio
import os
import resource

import pytest

from burst_client import burst, report
from conftest import NativeServer

pytestmark = pytest.mark.native_only

N = 1000
CONCURRENCY = 100
# The main thread, one tokio worker per core, the store's writer and at most 8 blocking threads
# (upstream DNS lookups; none here), with slack for the runtime's own bookkeeping.
MAX_THREADS = (os.cpu_count() or 2) + 12
MAX_PEAK_RSS_KB = 128 * 1024


def raise_fd_limit(needed: int) -> None:
    """Raises this process's open-file limit (inherited by the server it starts) to `needed`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.fail(f"the open-file limit {hard} is below the {needed} this test needs")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def test_thousand_concurrent_opens_and_closes_stay_bounded() -> None:
    raise_fd_limit(2 * N + 512)
    server = NativeServer(["--connectors", "none"]).start()
    try:
        assert server.proc is not None
        figures = asyncio.run(burst(server.url, server.proc.pid, N, CONCURRENCY))
        print(report(figures))
        assert figures["open_streams"] == N, figures
        assert figures["peak_threads"] <= MAX_THREADS, figures
        assert figures["peak_rss_kb"] <= MAX_PEAK_RSS_KB, figures
    finally:
        assert server.stop() == 0, server.logs()
