"""`edgebench models`: list registered models with their task, input, params and FLOPs."""
from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("models", help="list models: name, task, input shape, params")
    p.add_argument("pattern", nargs="?", default="*", help="shell wildcard, e.g. 'res*'")
    p.add_argument("--imagenet-heads", action="store_true", help="count params with 1000-class heads (compare with the paper)")
    p.add_argument("--num-classes", type=int, default=None, help="count params with this head size (default: each model's)")
    p.add_argument("--include-test", action="store_true", help="also list the tiny test_* models")


def main(args) -> int:
    from types import SimpleNamespace

    import torch

    from edgebench.models import build_model, get_spec, list_models
    from edgebench.models.stats import count_flops, trainable_params
    from edgebench.report import console

    names = list_models(args.pattern, include_test=args.include_test)
    if not names:
        print(console.no_models(args.pattern))
        return 0
    classes = 1000 if args.imagenet_heads else args.num_classes
    models = []
    for n in names:
        spec = get_spec(n)
        module = build_model(spec, classes).module
        flops = count_flops(module, torch.zeros(1, *spec.input_shape))
        models.append(SimpleNamespace(name=n, task=spec.task, input_shape=spec.input_shape,
                                      params=trainable_params(module), flops=flops, paper_name=spec.paper_name))
    print(console.models_table(models, classes))
    return 0
