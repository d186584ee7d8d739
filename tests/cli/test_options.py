"""Every option's help text, and the timing defaults the help and the README state."""
import argparse

from edgebench.cli.main import build_parser


def _walk(parser, path=("edgebench",)):
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        yield path, action
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*path, name))


def test_every_option_has_help_text():
    missing = [f"{' '.join(path)} {'/'.join(a.option_strings) or a.dest}" for path, a in _walk(build_parser())
               if not (a.help or "").strip()]
    assert not missing, f"options without help text: {missing}"


def test_timing_defaults_in_help_and_readme_are_timing_configs():
    import re
    from pathlib import Path

    from edgebench.config import TimingConfig

    real, quick = TimingConfig(), TimingConfig.quick_config()
    names = ("warmup_iters", "warmup_s", "min_iters", "min_time_s")
    for path, a in _walk(build_parser()):
        if a.dest in names + ("max_time_s",):
            m = re.search(r"\(default ([0-9.]+)\)", a.help)
            assert m and float(m[1]) == getattr(real, a.dest), (path, a.dest, a.help)
        if a.dest == "quick":
            assert (f"warm-up {quick.warmup_iters} iterations and {quick.warmup_s:g} s, then {quick.min_iters} "
                    f"iterations and {quick.min_time_s:g} s") in a.help
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    m = re.search(r"Timing(?: defaults)?: `--warmup-iters (\S+) --warmup-s (\S+) --min-iters (\S+) --min-time-s (\S+)`", readme)
    assert m, "README's timing defaults line not found"
    assert [float(v) for v in m.groups()] == [getattr(real, n) for n in names]


def test_ci_option_sets_the_stopping_rule_and_off_restores_the_fixed_one():
    import pytest

    from edgebench.cli.options import timing
    from edgebench.config import TimingConfig
    from edgebench.errors import InvalidConfigError

    parser = build_parser()
    args = lambda *a: parser.parse_args(["run", *a])  # noqa: E731
    assert timing(args()).ci_pct == TimingConfig().ci_pct == 1.0
    assert timing(args("--ci", "0.5%", "--max-time", "20")).ci_pct == 0.5
    assert timing(args("--ci", "0.5%", "--max-time", "20")).max_time_s == 20
    assert timing(args("--ci", "off")) == TimingConfig.fixed()
    assert timing(args("--ci", "off")).min_iters == 100 and TimingConfig.fixed().min_time_s == 5.0
    with pytest.raises(InvalidConfigError, match="--ci takes a percentage"):
        timing(args("--ci", "tight"))
    with pytest.raises(InvalidConfigError, match="--ci must be above 0%"):
        timing(args("--ci", "0%"))


def test_only_run_times_a_cell_in_several_processes():
    from edgebench.cli.options import timing
    from edgebench.cli.run import _processes

    parser = build_parser()
    assert timing(parser.parse_args(["bench", "test_cnn", "--backend", "pytorch"])).processes == 1
    run = parser.parse_args(["run"])
    assert _processes(run, timing(run)).processes == 2
    assert _processes(parser.parse_args(["run", "--processes", "3"]), timing(run)).processes == 3
    assert _processes(parser.parse_args(["run", "--no-isolate"]), timing(run)).processes == 1
