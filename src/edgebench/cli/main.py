"""`edgebench` console script: the top-level parser built from the command modules, dispatch,
and the one-line error with its exit code (2 bad input, 3 missing dependency or device). Each
command module (cli/<command>.py) parses into a config, calls the library and prints a
renderer's output."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from edgebench import __version__
from edgebench.cli import (backends, bench, compare, data, export, fleet, models, profile, report, run, store, stream,
                           targets, train)
from edgebench.errors import EdgebenchError

#: command name -> its module (add_parser, main), in the order --help lists them
COMMANDS = {"models": models, "backends": backends, "export": export, "bench": bench, "run": run,
            "train": train, "data": data, "stream": stream, "report": report, "compare": compare, "store": store,
            "targets": targets, "profile": profile, "fleet": fleet}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgebench",
        description="Benchmark vision models before and after optimisation (PyTorch -> ONNX -> ONNX Runtime / TensorRT).",
    )
    parser.add_argument("--version", action="version", version=f"edgebench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", help="one of these; COMMAND --help for its options")
    for command in COMMANDS.values():
        command.add_parser(sub)
    return parser


def _quiet_video_libraries() -> None:
    """Keep OpenCV's warnings and FFmpeg's messages (a damaged video makes FFmpeg complain on
    every frame) from coming before edgebench's own one-line error. Read once, when cv2 first
    opens a video, so it is set here in the launcher before any command imports cv2; values
    the user set win. Opening a video also sends OpenCV's unfiltered prints to the debug log
    (data.ucf50.open_video)."""
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


class Terminated(KeyboardInterrupt):
    """SIGTERM (`timeout`, a job scheduler's time limit, `kill`), raised where Ctrl-C would be, so
    that a run ends the same way: its completed rows kept, the run stored as interrupted and its
    reports written, never left "running"."""


def _raise_terminated(signum, frame) -> None:
    """The first SIGTERM ends the run; later ones are ignored while it stores its rows and writes
    its reports (`timeout` signals the command and then its whole process group, so the run
    itself gets SIGTERM twice: the second used to cut its report short)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    _quiet_video_libraries()
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if on_main_thread else None
    try:
        return COMMANDS[args.command].main(args)
    except EdgebenchError as exc:
        print(f"edgebench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Terminated:
        print("edgebench: terminated (SIGTERM); every completed row is kept in the results store", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("edgebench: interrupted; every completed row is kept in the results store", file=sys.stderr)
        return 130
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
