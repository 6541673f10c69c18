# HSSL-DINO: ViT-B/16 + 3 ConvNeXt blocks, 2 global + 10 local crops, 100 epochs on ImageNet-1k,
# 8 GPUs x 32 images; otherwise the HSSL-iBOT ViT-B recipe (lr 7.5e-4 per 256, per-tensor clip 0.3,
# teacher temperature 0.04 -> 0.07 over 50 epochs, prototype layer frozen 3 epochs).
_base_ = [
    '../_base_/models/hssl-dino_vit-base-p16_aux-convnext3.py',
    '../_base_/datasets/multicrop.py',
    '../_base_/datasets/imagenet_eval.py',
    '../_base_/schedules/adamw_coslr_coswd_100e.py',
    '../_base_/default_runtime.py',
]

optim_wrapper = dict(
    type='SSLAmpOptimWrapper', dtype='bfloat16',
    loss_scale=dict(enabled=False))  # bf16 has float32's range: no scaling
