# HSSL-iBOT reference recipe: ViT-B/16 + 3 ConvNeXt blocks, 2 global crops, 100 epochs on
# ImageNet-1k, 8 GPUs x 32 images, lr 7.5e-4 per 256, per-tensor clip 0.3, prototype layer frozen 3
# epochs.
_base_ = [
    '../_base_/models/hssl-ibot_vit-base-p16_aux-convnext3.py',
    '../_base_/datasets/multicrop_masks.py',
    '../_base_/datasets/imagenet_eval.py',
    '../_base_/schedules/adamw_coslr_coswd_100e.py',
    '../_base_/default_runtime.py',
]

# bf16 autocast: fp16 DINO/iBOT runs are known to hit non-finite losses.
optim_wrapper = dict(
    type='SSLAmpOptimWrapper', dtype='bfloat16',
    loss_scale=dict(enabled=False))  # bf16 has float32's range: no scaling
