"""Models: build nn.Modules and describe their inputs; knows no backend."""
from edgebench.models.build import LoadedModel, build_model
from edgebench.models.registry import get_spec, list_models, register
from edgebench.models.spec import ACTION_RECOGNITION, IMAGE_CLASSIFICATION, ModelSize, ModelSpec

__all__ = [
    "ACTION_RECOGNITION",
    "IMAGE_CLASSIFICATION",
    "LoadedModel",
    "ModelSize",
    "ModelSpec",
    "build_model",
    "get_spec",
    "list_models",
    "register",
]
