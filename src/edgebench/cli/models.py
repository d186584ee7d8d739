"""`edgebench models`: list registered models with their task, input, params and FLOPs."""
from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("models", help="list models: name, task, input shape, params")
    p.add_argument("pattern", nargs="?", default="*", help="shell wildcard, e.g. 'res*'")
    p.add_argument("--imagenet-heads", action="store_true", help="count params with 1000-class heads (compare with the paper)")
    p.add_argument("--num-classes", type=int, default=None, help="count params with this head size (default: each model's)")
    p.add_argument("--include-test", action="store_true", help="also list the tiny test_* models")


def main(args) -> int:
    from edgebench.models.listing import summarize_models
    from edgebench.report import console

    classes = 1000 if args.imagenet_heads else args.num_classes
    models = summarize_models(args.pattern, args.include_test, classes)
    if not models:
        print(console.no_models(args.pattern))
        return 0
    print(console.models_table(models, classes))
    return 0
