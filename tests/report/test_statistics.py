"""The speedup's bootstrap interval, break-even and means."""
from edgebench.report import build_table1, render_markdown
from tests.report import RUN, rec


def test_speedup_interval_and_significance():
    import numpy as np

    from edgebench.report.statistics import speedup_interval

    rng = np.random.default_rng(0)
    pre, post = list(10 + rng.normal(0, 0.5, 200)), list(5 + rng.normal(0, 0.5, 200))
    lo, hi = speedup_interval(pre, post)
    assert 1.9 < lo < 2.0 < hi < 2.1
    same = list(10 + rng.normal(0, 1.0, 50))
    lo, hi = speedup_interval(same, list(10 + rng.normal(0, 1.0, 50)))
    assert lo < 1.0 < hi
    noisy = [rec("n", "pytorch", 10.0, samples_ms=same), rec("n", "onnxruntime", 10.0, samples_ms=list(10 + rng.normal(0, 1.0, 50)))]
    md = render_markdown(build_table1(noisy, RUN))
    assert "(not significant)" in md
    assert speedup_interval([1.0], [1.0, 2.0]) is None


def test_break_even_and_mean():
    from edgebench.report.statistics import break_even, mean

    cold = dict(prepare_s=0.0, load_s=0.0, first_infer_s=0.0)
    pre = rec("m", "pytorch", 10.0, export_s=1.0, **cold)
    post = rec("m", "onnxruntime", 4.0, export_s=4.0, **cold)
    assert break_even(pre, post) == 500  # 3 s more cold start / 6 ms saved per inference
    assert break_even(post, pre) is None  # the "optimised" path is slower: never pays off
    assert break_even(pre, rec("m", "onnxruntime", 4.0)) is None  # no cold start measured
    assert mean([2.5, 0.5]) == 1.5 and mean([]) is None
