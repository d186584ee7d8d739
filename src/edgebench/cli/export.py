"""`edgebench export`: a model to an ONNX file or an AOTInductor package (cached), optionally
copied to --output."""
from __future__ import annotations

from pathlib import Path

from edgebench.cli.options import add_model_options, model_options


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export a model to ONNX or an AOTInductor package (dynamic batch axis, cached)")
    p.add_argument("model", help="model name, or path/to/file.py:factory")
    p.add_argument("--format", choices=["onnx", "aot-inductor"], default="onnx", help="artifact kind (default onnx)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="aot-inductor: the device it compiles for")
    p.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"], help="aot-inductor only")
    p.add_argument("--output", type=Path, default=None, help="also copy the file here")
    add_model_options(p)


def main(args) -> int:
    from edgebench.api import export
    from edgebench.report import console

    result = export(args.model, model_options(args), args.cache_dir, args.format, args.device, args.precision)
    if args.format == "aot-inductor":
        target = _copy_out(result.package, args.output)
        print(console.exported_package(target, result, args.device, args.precision))
        return 0
    target = _copy_out(result.path, args.output)
    print(console.exported_onnx(target, result))
    return 0


def _copy_out(path: Path, output: Path | None) -> Path:
    import shutil

    if output is None:
        return path
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, output)
    except OSError as exc:
        from edgebench.errors import OutputDirError

        raise OutputDirError(f"cannot write {output} ({exc.strerror}); pass a writable --output path") from exc
    return output
