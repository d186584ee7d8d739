"""The built-in models as data: each one's task, input, paper row and declared size, and its
factory named by "module:function", imported only when the model is built. The registry reads
this table; listing or resolving a built-in name imports no model code and no torch."""
from __future__ import annotations

from edgebench.models.spec import (
    ACTION_RECOGNITION,
    DETECTION,
    IMAGE_CLASSIFICATION,
    SEGMENTATION,
    IMAGE_INPUT,
    FactoryRef,
    ModelSize,
    ModelSpec,
)

#: the paper's eight classifiers: torchvision name, the paper's row label (Table 1), and the
#: declared size: params and FLOPs per item with 2 classes, then what each further class adds
_CLASSIFIERS = (
    ("alexnet", "AlexNet", ModelSize(57_012_034, 1_420_201_344, 4_097, 8_192)),
    ("vgg19", "VGG", ModelSize(139_578_434, 39_255_949_312, 4_097, 8_192)),
    ("resnet50", "ResNet", ModelSize(23_512_130, 8_174_280_704, 2_049, 4_096)),
    ("squeezenet1_1", "SqueezeNet", ModelSize(723_522, 525_593_984, 513, 173_056)),
    ("densenet121", "DenseNet", ModelSize(6_955_906, 5_666_279_424, 1_025, 2_048)),
    ("shufflenet_v2_x1_0", "ShuffleNet V2", ModelSize(1_255_654, 287_772_080, 1_025, 2_048)),
    ("mobilenet_v2", "MobileNet V2", ModelSize(2_226_434, 598_993_664, 1_281, 2_560)),
    ("resnext50_32x4d", "ResNet V2", ModelSize(22_984_002, 8_456_871_936, 2_049, 4_096)),
)
# torchvision name -> the paper's row label (Table 1)
PAPER_CLASSIFIERS = {name: paper for name, paper, _ in _CLASSIFIERS}

ACTION_CLASSES = 4  # the paper's 4-way UCF50 subset
CLIP = (3, 8, 64, 64)  # C, T, H, W: the action models' clip (each model file's CLIP_SHAPE)


def torchvision_spec(name: str, paper_name: str = "", size: ModelSize | None = None) -> ModelSpec:
    """Any torchvision classifier, built at random init with the head sized to N classes."""
    return ModelSpec(
        name=name,
        task=IMAGE_CLASSIFICATION,
        input_shape=IMAGE_INPUT,
        factory=FactoryRef("edgebench.models.classifiers:build_torchvision", (name,)),
        source="torchvision",
        paper_name=paper_name,
        description=f"torchvision {name}",
        size=size,
    )


def _action(name: str, target: str, paper_name: str, description: str, size: ModelSize) -> ModelSpec:
    return ModelSpec(
        name=name,
        task=ACTION_RECOGNITION,
        input_shape=CLIP,
        factory=FactoryRef(target),
        default_num_classes=ACTION_CLASSES,
        paper_name=paper_name,
        description=description,
        size=size,
    )


#: torchvision's single-shot detectors, run as the network alone (models.dense): (3, H, W) input,
#: classes as torchvision counts them (COCO's 90 and the background)
DETECTORS = {"ssdlite320_mobilenet_v3_large": (3, 320, 320), "ssd300_vgg16": (3, 300, 300)}
COCO_CLASSES = 91
#: torchvision's segmenters (Pascal VOC's 20 classes and the background), at the 520-pixel size
#: torchvision's reference evaluation resizes to
SEGMENTER_INPUT = (3, 520, 520)
VOC_CLASSES = 21


def detector_spec(name: str, size: ModelSize | None = None) -> ModelSpec:
    return ModelSpec(name=name, task=DETECTION, input_shape=DETECTORS[name],
                     factory=FactoryRef("edgebench.models.dense:build_detector", (name,)),
                     default_num_classes=COCO_CLASSES, source="torchvision",
                     description=f"torchvision {name}, the network alone (raw boxes and class scores per anchor)",
                     size=size)


def segmenter_spec(name: str, size: ModelSize | None = None) -> ModelSpec:
    return ModelSpec(name=name, task=SEGMENTATION, input_shape=SEGMENTER_INPUT,
                     factory=FactoryRef("edgebench.models.dense:build_segmenter", (name,)),
                     default_num_classes=VOC_CLASSES, source="torchvision",
                     description=f"torchvision {name} (class scores per pixel)", size=size)


#: every built-in model; the action models' and test models' sizes are at their default class
#: count (4 for the action models and test_cnn3d, 2 for the others)
BUILTIN_MODELS: tuple[ModelSpec, ...] = (
    *(torchvision_spec(name, paper, size) for name, paper, size in _CLASSIFIERS),
    _action("c3d", "edgebench.models.video.c3d:C3D", "3D-CNN",
            "3D-CNN for action recognition on 3x8x64x64 clips (C3D-style, ~20.7 M params).",
            ModelSize(20_686_644, 465_899_520, 513, 1_024)),
    _action("conv_autoencoder", "edgebench.models.video.autoencoder:ConvAutoencoder", "AutoEncoder (AE)",
            "3D convolutional autoencoder with a classification head on its encoder (~0.32 M params).",
            ModelSize(316_039, 63_701_760, 97, 192)),
    _action("densenet3d", "edgebench.models.video.densenet3d:DenseNet3D", "DenseNet",
            "Small 3D DenseNet for action recognition on 3x8x64x64 clips (~0.11 M params).",
            ModelSize(113_492, 243_286_656, 81, 160)),
    detector_spec("ssdlite320_mobilenet_v3_large", ModelSize(3_440_060, 1_166_343_808, 13_860, 3_996_672)),
    segmenter_spec("lraspp_mobilenet_v3_large", ModelSize(3_221_538, 4_172_439_376, 170, 1_419_600)),
    ModelSpec("test_cnn", IMAGE_CLASSIFICATION, (3, 32, 32), FactoryRef("edgebench.models.testing:tiny_cnn"),
              description="tiny CNN for tests", size=ModelSize(1_442, 1_032_256, 17, 32)),
    ModelSpec("test_mlp", IMAGE_CLASSIFICATION, (3, 16, 16), FactoryRef("edgebench.models.testing:tiny_mlp"),
              description="tiny MLP for tests", size=ModelSize(24_674, 49_280, 33, 64)),
    ModelSpec("test_cnn3d", ACTION_RECOGNITION, (3, 4, 16, 16), FactoryRef("edgebench.models.testing:tiny_cnn3d"),
              default_num_classes=4, description="tiny 3-D CNN for tests", size=ModelSize(908, 1_425_472, 9, 16)),
)
