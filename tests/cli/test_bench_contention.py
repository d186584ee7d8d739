import sys

import pytest

from edgebench.cli.main import main

FAST = ["--warmup-iters", "1", "--warmup-s", "0", "--min-iters", "3", "--min-time-s", "0", "--pool-size", "2"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux /proc")
def test_bench_prints_other_cpu_and_the_flag(capsys, monkeypatch):
    from edgebench.bench.contention import CONTENDED_PCT, ContentionProbe

    assert main(["bench", "test_cnn", "--backend", "pytorch:threads=1", *FAST]) == 0
    out = capsys.readouterr().out
    assert "other CPU" in out and "% of one core while timed" in out
    monkeypatch.setattr(ContentionProbe, "other_pct", lambda self: 250.0)
    assert main(["bench", "test_cnn", "--backend", "pytorch", *FAST]) == 0
    out = capsys.readouterr().out
    assert "other CPU 250% of one core while timed" in out and "CONTENDED" in out
    assert "warning: contended: other processes used 250% of one core" in out and f"threshold {CONTENDED_PCT:g}%" in out
