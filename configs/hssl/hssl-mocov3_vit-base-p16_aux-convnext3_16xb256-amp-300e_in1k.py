# HSSL-MoCo v3: ViT-B/16 + 3 ConvNeXt blocks, MoCo v3's two views and recipe: 300 epochs,
# 16 GPUs x 256 images, AdamW lr 2.4e-3 (1.5e-4 per 256) with 40 warm-up epochs, weight decay 0.1,
# momentum 0.99 -> 1 (cosine). The schedule hook sets only the momentum here (no prototype layer to
# freeze; its temperature values are unused by MoCoV3Loss).
_base_ = [
    '../_base_/models/hssl-mocov3_vit-base-p16_aux-convnext3.py',
    '../_base_/datasets/two_views_mocov3.py',
    '../_base_/datasets/imagenet_eval.py',
    '../_base_/schedules/adamw_coslr_300e.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=256)
optim_wrapper = dict(
    type='SSLAmpOptimWrapper', dtype='bfloat16',
    loss_scale=dict(enabled=False))  # bf16 has float32's range: no scaling
custom_hooks = [dict(type='HSSLScheduleHook', momentum=(0.99, 1.0), freeze_last_layer_epochs=0)]
