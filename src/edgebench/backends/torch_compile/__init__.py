"""The torch-compile backend (backend.py) and the convolution lowering it may apply on CUDA:
im2col + matmul (conv_lowering.py) and edgebench's Triton kernel (triton_conv.py). Importing
this package imports none of them."""
