"""The AOTInductor build as its own process, the way trtexec builds an engine: reads a saved
torch.export program (self-contained: no model code needed) and writes the compiled .pt2
package. The parent (aot_inductor_backend.py) gives this process its own Inductor cache and the
C++ compiler (CXX) to use, and only loads the package; no compiler state shares the process
that runs it.

    python -m edgebench.backends.aoti_build PROGRAM.pt2 PACKAGE.pt2 PRECISION TF32(0|1)"""
from __future__ import annotations

import sys


def build(program_path: str, package_path: str, precision: str, tf32: bool) -> None:
    import torch

    from edgebench.backends.torch_io import set_tf32

    program = torch.export.load(program_path)
    if torch.cuda.is_available():
        set_tf32(precision, tf32)  # the flags the program will be compiled under, as in the parent
    torch._inductor.aoti_compile_and_package(program, package_path=package_path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 4:
        print("usage: python -m edgebench.backends.aoti_build PROGRAM.pt2 PACKAGE.pt2 PRECISION TF32(0|1)", file=sys.stderr)
        return 2
    build(args[0], args[1], args[2], args[3] == "1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
