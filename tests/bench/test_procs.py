"""The bench's accounting of the machine's CPU, which tells a starved worker from a waiting one."""

from __future__ import annotations

import time

from bench import procs


def test_the_machine_s_busy_time_counts_this_process_s_work():
    busy_before, total_before = procs.machine_seconds()
    spin_until = time.process_time() + 0.3
    while time.process_time() < spin_until:
        pass
    busy, total = procs.machine_seconds()
    # The counters are in 10 ms ticks: compare in ticks, free of float rounding.
    assert 0 < round((busy - busy_before) * 100) <= round((total - total_before) * 100)
    assert busy - busy_before >= 0.25  # at least the 0.3 s this process just spent (ticks are 10 ms)
