"""One model's shared state across its backend cells (bench.cell): the model loaded exactly as
every command benchmarks it, exported and quantized once, its timing inputs, its check batches and
the pristine module's reference outputs on them, computed in calls of many items."""
from __future__ import annotations

import copy
from pathlib import Path

from edgebench.bench import stages
from edgebench.bench.inputs import input_pool
from edgebench.config import ModelOptions
from edgebench.errors import ExportError, InvalidConfigError
from edgebench.models import inputs
from edgebench.results.record import ModelFacts


#: where CUDA cells' timing inputs lie (ModelCell.pool_for); stored with each run, part of the
#: resume fingerprint, so rows timed from pageable inputs never join a run of page-locked ones
CUDA_HOST_INPUTS = "page-locked"


def load_model(name: str, opts: ModelOptions, cache_dir: Path | None = None):
    """The model exactly as every command benchmarks and exports it (a models.LoadedModel).
    Weights from outside edgebench (a factory, --weights, --pretrained) are returned untouched;
    only weights edgebench initialised at random get BatchNorm statistics from the task's
    calibration inputs (the ones INT8 calibration uses), so that their activations and logits
    have a realistic scale, and their label says so."""
    from edgebench.models import build_model, get_spec
    from edgebench.models.build import batchnorm_layers

    spec = get_spec(name, opts.input_shape)
    with stages.stage("model build"):
        loaded = build_model(spec, opts.num_classes, opts.weights_for(name), opts.pretrained, opts.seed)
    if loaded.edgebench_made and batchnorm_layers(loaded.module):
        from edgebench.data.task_inputs import task_inputs

        with stages.stage("task inputs"):
            items, _, desc = task_inputs(spec, opts.data, opts.calibration_size, opts.seed, cache_dir, split="train")
        with stages.stage("batchnorm statistics"):
            _batchnorm_statistics(loaded, items, desc, cache_dir)
    return loaded


def _batchnorm_statistics(loaded, items: list, desc: str, cache_dir: Path | None) -> None:
    """recalibrate_batchnorm, its statistics kept in edgebench's cache under the weights' hash,
    the very inputs' hash, the torch version and the CPU, so a second run loads them."""
    import numpy as np
    import torch

    from edgebench.cache import Cache
    from edgebench.hashing import arrays_sha256
    from edgebench.models.build import batchnorm_statistics, recalibrate_batchnorm, set_batchnorm_statistics
    from edgebench.system import device_identity

    fields = {"weights": loaded.weights, "weights_sha256": loaded.weights_sha256, "inputs_sha256": arrays_sha256(items),
              "items": len(items), "description": desc, "torch": torch.__version__, "device": device_identity("cpu")}
    cache, label = Cache(cache_dir), loaded.spec.name
    entry = cache.get("batchnorm", fields, label=label)
    if entry is not None:
        with np.load(entry.path("statistics.npz")) as stored:
            stats = {k: stored[k] for k in stored.files}
        try:
            set_batchnorm_statistics(loaded, stats, len(items), desc)
            return
        except ValueError:
            cache.discard("batchnorm", fields, label=label)
    recalibrate_batchnorm(loaded, items, desc)
    with cache.writing("batchnorm", fields, label=label) as draft:
        np.savez(draft.folder / "statistics.npz", **batchnorm_statistics(loaded.module))


#: the most bytes of one cell's outputs on the check inputs (bench.check) that a model's check
#: size is allowed to make, and the fewest check inputs it is cut to
CHECK_OUTPUT_BYTES = 512 * 2**20
MIN_CHECK_ITEMS = 8

#: items per call when the accuracy check's inputs run through eager PyTorch (the reference, an
#: eager baseline): far fewer calls than one per timed batch, the same numerics per item
CHECK_BATCH = 32


def batched(run, batches: list) -> list:
    """`run` over `batches` (arrays of one batch size, or tuples of them: models.inputs) in calls of
    about CHECK_BATCH items, its outputs split back into one per batch, as if each batch had been
    run alone. A model with an output that has no batch axis (its size depends on the data) runs
    one batch per call."""
    from edgebench.models import outputs

    if not batches:
        return []
    b = inputs.length(batches[0])
    per = max(1, CHECK_BATCH // b)
    out = []
    for i in range(0, len(batches), per):
        group = batches[i:i + per]
        try:
            y = run(inputs.concatenate(group))
        except (MemoryError, RuntimeError) as exc:  # a device short of memory for the large call
            if per == 1 or "memory" not in str(exc).lower() and not isinstance(exc, MemoryError):
                raise
            _release_cuda_memory()
            return out + [run(x) for x in batches[i:]]
        try:
            out += outputs.split(y, [len(g) for g in group])
        except ValueError:
            return out + [run(x) for x in batches[i:]]
    return out


def _release_cuda_memory() -> None:
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def check_pristine(loaded) -> None:
    """Raise if the module's weights changed since they were built: parity and the accuracy gate
    must compare against the model as given, never against one a transform has altered."""
    from edgebench.models.build import state_dict_sha256

    if state_dict_sha256(loaded.module) != loaded.weights_sha256:
        raise RuntimeError(f"edgebench altered the weights of {loaded.spec.name} ({loaded.weights}); this is a bug, "
                           "please report it")


def source_key(name: str, loaded) -> dict:
    """What identifies a model's weights and input, for backends' own caches."""
    return {"model": name, "weights": loaded.weights, "weights_sha256": loaded.weights_sha256,
            "input_shape": inputs.to_json(loaded.spec.input_shape), "num_classes": loaded.num_classes}


class ModelCell:
    """One model's shared state across its backend cells: built once, exported once,
    one input pool, one reference output list."""

    def __init__(self, name: str, opts: ModelOptions, batch_size: int, pool_size: int, cache_dir: Path | None,
                 handoff: dict | None = None):
        """With `handoff` (the first timing process's handoff(), bench.spread), a later timing
        process's cell: nothing is built or exported, its ONNX artifacts are the very files the first
        one ran and its timing inputs the same (the same seed); it serves source_for("onnx") only."""
        self.name = name
        self.opts = opts
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self.loaded = None
        self.onnx_file = None
        self._handed = handoff
        if handoff is not None:
            self.item_shape, self.task = tuple(handoff["item_shape"]), handoff["task"]
        elif name.endswith(".onnx"):
            from edgebench.export import load_onnx_file

            self.onnx_file = load_onnx_file(name)
            from edgebench.export.artifact import item_shape

            self.item_shape = item_shape(self.onnx_file)
            static = self.onnx_file.metadata.get("static_batch")
            if static is not None and static != batch_size:
                shape = f"{static}x{inputs.describe(inputs.named(self.item_shape)[0][1])}"
                raise InvalidConfigError(f"{name} has a fixed batch of {static} (input {self.onnx_file.input_name} is "
                                         f"{shape}), so it cannot run at --batch-size {batch_size}; pass --batch-size "
                                         f"{static}, or export it with a dynamic batch axis")
            self.task = "unknown"
        else:
            self.loaded = load_model(name, opts, cache_dir)
            self.item_shape = self.loaded.spec.input_shape
            self.task = self.loaded.spec.task
        self.spec = None if self.loaded is None else self.loaded.spec
        self.pool = input_pool(self.item_shape, batch_size, pool_size, opts.seed)
        self._pinned_pool: list | None = None
        self.reference: list | None = None  # PyTorch FP32 outputs on the check batches
        self._artifacts: dict = dict(handoff["artifacts"]) if handoff is not None else {}
        self._export_errors: dict = {}
        self._stats: dict | None = None
        self._check = None
        self._parity = None
        self._output_bytes = 0  # one check input's outputs on the host, where the parity probe measured them
        self._frames: list | None = None

    def handoff(self) -> dict | None:
        """What a later timing process of an ONNX-consuming cell needs of this model, so that it
        builds nothing (bench.spread): the ONNX artifacts this process exported or loaded from
        edgebench's cache, the source key the backends' own caches use, and the model's facts.
        None where there is no artifact to hand (a module-consuming backend builds the module)."""
        if not self._artifacts:
            return None
        return {"artifacts": dict(self._artifacts), "source_key": self.source_key(), "facts": self.facts(),
                "item_shape": tuple(self.item_shape), "task": self.task, "parity": self.parity_info()}

    def facts(self) -> ModelFacts:
        """What every record of this model says of it (params and FLOPs are added at open)."""
        if self._handed is not None:
            return copy.deepcopy(self._handed["facts"])
        return ModelFacts(num_classes=self.loaded.num_classes if self.loaded else None, input_shape=inputs.to_json(self.item_shape),
                          weights=self.loaded.weights if self.loaded else self.onnx_file.path.name)

    def frame_pool(self) -> list:
        """With --pipeline: the camera frames a detector's or segmenter's pipeline is timed on
        (bench.pipeline), as many batches as the timing pool, made once."""
        if self._frames is None:
            from edgebench.bench.pipeline import frame_pool

            self._frames = frame_pool(tuple(self.opts.pipeline), self.batch_size, len(self.pool), self.opts.seed)
        return self._frames

    def pool_for(self, device: str) -> list:
        """The timing inputs: on CUDA the same values in page-locked host memory (made once)."""
        if device != "cuda":
            return self.pool
        if self._pinned_pool is None:
            from edgebench.bench.inputs import page_locked

            self._pinned_pool = page_locked(self.pool)
        return self._pinned_pool

    def check_batches(self):
        """(batches, labels or None, description): task inputs grouped into batches of the
        benchmark's size (the last one padded by repetition), for the accuracy gate."""
        if self._check is None:
            if self.spec is None:
                self._check = (self.pool, None, "random inputs (fixed seed)")
            else:
                from edgebench.data.task_inputs import task_inputs

                count, capped = self._check_count()
                with stages.stage("task inputs"):
                    items, labels, desc = task_inputs(self.spec, self.opts.data, count, self.opts.seed + 1, self.cache_dir)
                desc += capped
                b = self.batch_size
                n = len(items)
                padded = items + [items[i % n] for i in range((-n) % b)]
                batches = [inputs.stack(padded[i : i + b]) for i in range(0, len(padded), b)]
                self._check = (batches, labels, desc)
                self.check_items = n
        return self._check

    def _check_count(self) -> tuple[int, str]:
        """(check inputs to use, what the description adds): --check-size, or fewer where the
        outputs of that many would pass CHECK_OUTPUT_BYTES (a segmenter's class scores per pixel:
        LR-ASPP's at 520x520 take 23 MB an input, 5.8 GB for 256, held by the reference and by each
        cell, in float64 while compared), but never fewer than MIN_CHECK_ITEMS."""
        asked = self.opts.check_size
        self.parity_info()
        per_item = self._output_bytes
        if not per_item or asked * per_item <= CHECK_OUTPUT_BYTES:
            return asked, ""
        count = min(asked, max(MIN_CHECK_ITEMS, CHECK_OUTPUT_BYTES // per_item))
        return count, (f"; {count} of --check-size {asked}: one input's outputs take {per_item / 2**20:.1f} MiB, and the "
                       f"check keeps at most {CHECK_OUTPUT_BYTES // 2**20} MiB of them")

    def stats(self) -> dict:
        with stages.stage("model stats"):
            return self._count_stats()

    def _count_stats(self) -> dict:
        if self._stats is None:
            if self.loaded is None:
                self._stats = {"params": self.onnx_file.metadata.get("params"), "flops": None, "macs": None}
            else:
                import torch

                from edgebench.cache import Cache

                # counted once per model and kept in edgebench's cache (each of its cells would count them)
                fields = {**self.source_key(), "torch": torch.__version__, "counter": "torch.utils.flop_counter"}
                entry = Cache(self.cache_dir).get_or_build("model-stats", fields, lambda _folder: self._counted(),
                                                           label=self.name)
                self._stats = {k: entry.meta[k] for k in ("params", "flops", "macs")}
        return self._stats

    def _counted(self) -> dict:
        from edgebench.models.stats import count_flops, trainable_params

        # FLOPs per item (batch 1), as the paper's Table 1 gives them
        flops = count_flops(self.loaded.module, inputs.from_numpy(inputs.take(self.pool[0], 0, 1)))
        return {"params": trainable_params(self.loaded.module), "flops": flops, "macs": flops // 2}

    def check_info(self) -> tuple:
        """(labels or None, description, number of real items, bench.task_parity.ParityInfo) of
        the check batches."""
        _, labels, desc = self.check_batches()
        return labels, desc, getattr(self, "check_items", None), self.parity_info()

    def parity_info(self):
        """The model's task, output names and a detector's decoder, for the accuracy gate."""
        if self._parity is None:
            from edgebench.bench.task_parity import ParityInfo
            from edgebench.models.spec import is_classifier

            if self._handed is not None:
                self._parity = self._handed["parity"]
            elif self.loaded is None:
                from edgebench.export.artifact import output_names

                self._parity = ParityInfo(self.task, tuple(output_names(self.onnx_file)))
            elif is_classifier(self.task) and self.loaded.spec.source != "user":
                self._parity = ParityInfo(self.task, ("logits",))  # a registered classifier: one tensor
            else:
                import torch

                from edgebench.models import outputs

                module = self.loaded.module
                with torch.inference_mode():
                    pairs = outputs.flatten(inputs.call(module, inputs.from_numpy(inputs.take(self.pool[0], 0, 1))),
                                            where=self.name)
                names = [name for name, _ in pairs]
                self._output_bytes = sum(4 * t.numel() for _, t in pairs)  # float32 on the host, one input
                decoder = getattr(module, "detection_decoder", None)
                decode = decoder(tuple(inputs.named(self.item_shape)[0][1][1:])) if decoder is not None else None
                self._parity = ParityInfo(self.task, tuple(names), decode)
        return self._parity

    def artifact(self, precision: str = "fp32", recipe=None):
        """The ONNX artifact: FP32 export (the user's file when given), or its INT8 QDQ
        quantization calibrated on task inputs (with `recipe`, export.quantize's default when
        None). Built once per recipe; a failure is remembered."""
        kind = "fp32" if precision != "int8" else "int8" if recipe is None else f"int8/{recipe.name}"
        if self._handed is not None and kind not in self._artifacts:
            raise RuntimeError(f"the {kind} ONNX artifact of {self.name} was not handed to this timing process; "
                               "this is a bug, please report it")
        if kind in self._export_errors:
            raise self._export_errors[kind]
        if kind not in self._artifacts:
            try:
                if kind == "fp32":
                    if self.onnx_file is not None:
                        art = self.onnx_file
                    else:
                        from edgebench.export import export_onnx

                        with stages.stage("export"):
                            art = export_onnx(self.loaded, opset=self.opts.opset, cache_dir=self.cache_dir)
                else:
                    from edgebench.export.quantize import quantize_int8

                    fp32 = self.artifact("fp32")
                    calib, desc = self.calibration_items()
                    with stages.stage("int8 calibration"):
                        art = quantize_int8(fp32, calib, self.cache_dir, recipe=recipe, calibration_desc=desc)
            except ExportError as exc:
                self._export_errors[kind] = exc
                raise
            self._artifacts[kind] = art
        return self._artifacts[kind]

    def calibration_items(self) -> tuple[list, str]:
        """(the task's calibration inputs, what they are): --calibration-size items of the training
        split, as the INT8 ONNX model and torch-compile's int8/fp8 layers are calibrated."""
        if self.spec is None:
            raise InvalidConfigError("calibration needs the model's task inputs, which an .onnx file does not declare; "
                                     "pass the model name or file.py:factory for INT8")
        from edgebench.data.task_inputs import task_inputs

        with stages.stage("task inputs"):
            items, _, desc = task_inputs(self.spec, self.opts.data, self.opts.calibration_size, self.opts.seed,
                                         self.cache_dir, split="train")
        return items, desc

    def source_key(self) -> dict:
        """What identifies this model's weights and input, for backends' own caches."""
        if self._handed is not None:
            return dict(self._handed["source_key"])
        if self.loaded is not None:
            return source_key(self.name, self.loaded)
        return {"model": self.name, "onnx_sha256": self.onnx_file.sha256, "input_shape": inputs.to_json(self.item_shape)}

    def source_for(self, consumes: str, precision: str = "fp32", recipe=None):
        if consumes == "module":
            if self._handed is not None:
                raise RuntimeError(f"a handed cell of {self.name} has no module; this is a bug, please report it")
            if self.loaded is None:
                raise InvalidConfigError(f"{self.name} is an ONNX file; the pytorch backend needs a model name or file.py:factory")
            from edgebench.backends.base import CALIBRATED_PRECISIONS, CalibratedModule

            if precision in CALIBRATED_PRECISIONS:  # torch-compile's own int8 / fp8 layers, calibrated here
                items, desc = self.calibration_items()
                return CalibratedModule(copy.deepcopy(self.loaded.module), items, desc)
            return copy.deepcopy(self.loaded.module)  # backends may move or cast it
        return self.artifact(precision, recipe)

    def reference_outputs(self) -> list | None:
        """The pristine module's FP32 CPU outputs on the check batches, when no baseline cell
        supplied them. The module is checked against the hash taken when it was built first."""
        if self.reference is None and self.loaded is not None:
            import torch

            from edgebench.models import outputs

            check_pristine(self.loaded)
            batches = self.check_batches()[0]
            with stages.stage("reference outputs"), torch.inference_mode():
                self.reference = batched(lambda x: outputs.to_host(inputs.call(self.loaded.module, inputs.from_numpy(x))),
                                         batches)
        return self.reference
