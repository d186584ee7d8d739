"""The paper's three action-recognition models, registered with their clip input."""
from edgebench.models.registry import register
from edgebench.models.spec import ACTION_RECOGNITION, ModelSpec
from edgebench.models.video.autoencoder import CLIP_SHAPE as AE_CLIP
from edgebench.models.video.autoencoder import ConvAutoencoder
from edgebench.models.video.c3d import CLIP_SHAPE as C3D_CLIP
from edgebench.models.video.c3d import C3D
from edgebench.models.video.densenet3d import CLIP_SHAPE as DN_CLIP
from edgebench.models.video.densenet3d import DenseNet3D

ACTION_CLASSES = 4  # the paper's 4-way UCF50 subset

for _name, _cls, _shape, _paper in (
    ("c3d", C3D, C3D_CLIP, "3D-CNN"),
    ("conv_autoencoder", ConvAutoencoder, AE_CLIP, "AutoEncoder (AE)"),
    ("densenet3d", DenseNet3D, DN_CLIP, "DenseNet"),
):
    register(
        ModelSpec(
            name=_name,
            task=ACTION_RECOGNITION,
            input_shape=_shape,
            factory=_cls,
            default_num_classes=ACTION_CLASSES,
            paper_name=_paper,
            description=(_cls.__doc__ or "").strip().splitlines()[0],
        )
    )
