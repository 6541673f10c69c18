# Demo: HSSL-iBOT on the real photos bundled with scikit-image (tools/prepare_demo_data.py writes
# them to data/skimage_photos). A small ViT (192 wide, 4 blocks) with a 2-block ConvNeXt auxiliary
# head, 112 px global crops with block masks plus two 48 px local crops; a few minutes on 2 CPU
# cores.
_base_ = [
    '../_base_/models/hssl-ibot_vit-base-p16_aux-convnext3.py',
    '../_base_/datasets/multicrop_masks.py',
    '../_base_/schedules/adamw_coslr_coswd_100e.py',
    '../_base_/default_runtime.py',
]

embed_dims = 192
num_layers = 4
aux_depth = 2
out_channels = 1024
global_crop_size = 112
local_crop_size = 48
max_epochs = 10
warmup_epochs = 1

model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=embed_dims, num_layers=num_layers, num_heads=3,
                  feedforward_channels=embed_dims * 4),
        img_size=global_crop_size,
        drop_path_rate=0.1 * (num_layers - 1) / (num_layers + aux_depth - 1)),
    neck=dict(in_channels=embed_dims, depth=aux_depth, base_depth=num_layers),
    head=dict(in_channels=embed_dims, out_channels=out_channels, hidden_channels=512,
              bottleneck_channels=128),
    loss=dict(out_channels=out_channels))

_color = [
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomApply',
         transforms=[dict(type='SafeColorJitter', brightness=0.4, contrast=0.4, saturation=0.2,
                          hue=0.1)],
         prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
]
train_pipeline = [
    dict(type='SafeLoadImageFromFile'),  # skips (and counts) unreadable images
    dict(type='MultiCropWithMasks',
         global_pipelines=[
             [dict(type='RandomResizedCrop', scale=global_crop_size, crop_ratio_range=(0.14, 1.),
                   interpolation='bicubic', backend='pillow'), *_color,
              dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=1.0)],
             [dict(type='RandomResizedCrop', scale=global_crop_size, crop_ratio_range=(0.14, 1.),
                   interpolation='bicubic', backend='pillow'), *_color,
              dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.1),
              dict(type='Solarize', thr=128, prob=0.2)],
         ],
         local_pipeline=[
             dict(type='RandomResizedCrop', scale=local_crop_size, crop_ratio_range=(0.05, 0.4),
                  interpolation='bicubic', backend='pillow'), *_color,
             dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.5)],
         num_local_crops=2,
         mask_cfg=dict(patch_size=16, ratios=(0.0, 0.3), ratio_vars=(0.0, 0.2), min_aspect=0.3)),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    pin_memory=False,
    dataset=dict(dataset=dict(_delete_=True, type='RepeatDataset', times=4,
                              dataset=dict(type='UnlabeledImageFolder',
                                           data_root='data/skimage_photos',
                                           pipeline=train_pipeline))))

optim_wrapper = dict(optimizer=dict(lr=5e-4))
# Fixed ends (unlike the schedule bases): tests and smoke runs shorten the demo below its warm-up.
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-9, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=1e-6, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingWeightDecay', eta_min=0.4, T_max=max_epochs, by_epoch=True, begin=0,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
# Short-run schedule: a constant teacher temperature (a ramp to 0.07 would end before features
# exist, and it makes losses of different iterations incomparable) and a momentum that stays below
# 1, so the teacher keeps following the student until the last step.
custom_hooks = [
    dict(type='HSSLScheduleHook', momentum=(0.99, 0.999), teacher_temp=(0.04, 0.04),
         warmup_epochs=1, freeze_last_layer_epochs=1),
]
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=5, max_keep_ckpts=2))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
