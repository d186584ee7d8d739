"""Tests of the command line, one file per command module; what they share."""
import subprocess
import sys

#: the fastest timing the commands accept, for tiny models
FAST = ["--warmup-iters", "1", "--warmup-s", "0", "--min-iters", "3", "--min-time-s", "0", "--ci", "off", "--pool-size", "2"]


def run_cli(*args, timeout=300):
    """Run the real console entry point in a subprocess (exit code + stderr as a user sees them)."""
    return subprocess.run([sys.executable, "-m", "edgebench", *args], capture_output=True, text=True, timeout=timeout)
