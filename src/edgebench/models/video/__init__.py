"""The paper's three action-recognition models (3D-CNN, autoencoder, 3-D DenseNet) on
3 x 8 x 64 x 64 clips; models.catalog registers them by name."""
