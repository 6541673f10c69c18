# HSSL-MoCo v3: ViT-B/16 + 3 ConvNeXt blocks, MoCo v3's two views and recipe: 300 epochs,
# 16 GPUs x 256 images, AdamW lr 2.4e-3 (1.5e-4 per 256) with 40 warm-up epochs, weight decay 0.1,
# momentum 0.99 -> 1 (cosine). The schedule hook sets only the momentum here (no prototype layer to
# freeze; its temperature values are unused by MoCoV3Loss).
_base_ = [
    '../_base_/models/hssl-mocov3_vit-base-p16_aux-convnext3.py',
    '../_base_/datasets/two_views_mocov3.py',
    '../_base_/datasets/imagenet_eval.py',
    '../_base_/schedules/adamw_coslr_coswd_100e.py',
    '../_base_/default_runtime.py',
]

max_epochs = 300
warmup_epochs = 40
train_dataloader = dict(batch_size=256)
optim_wrapper = dict(
    _delete_=True,
    type='SSLAmpOptimWrapper',
    dtype='bfloat16',
    loss_scale='dynamic',
    constructor='StudentOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=2.4e-3, betas=(0.9, 0.999), weight_decay=0.1),
    paramwise_cfg=dict(flat_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=4096)
custom_hooks = [dict(type='HSSLScheduleHook', momentum=(0.99, 1.0), freeze_last_layer_epochs=0)]
