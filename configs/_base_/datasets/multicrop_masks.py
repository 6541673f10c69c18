# iBOT/DINO augmentations: two asymmetric global views (224 px, scale 0.14-1) with per-view block
# masks, and optional local views (96 px, scale 0.05-0.4).
global_crop_size = 224
local_crop_size = 96
patch_size = 16
num_local_crops = 0

data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

_color = [
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomApply',
         transforms=[dict(type='SafeColorJitter', brightness=0.4, contrast=0.4, saturation=0.2,
                          hue=0.1)],
         prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
]
global_view1 = [
    dict(type='RandomResizedCrop', scale=global_crop_size, crop_ratio_range=(0.14, 1.),
         interpolation='bicubic', backend='pillow'),
    *_color,
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=1.0),
]
global_view2 = [
    dict(type='RandomResizedCrop', scale=global_crop_size, crop_ratio_range=(0.14, 1.),
         interpolation='bicubic', backend='pillow'),
    *_color,
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.1),
    dict(type='Solarize', thr=128, prob=0.2),
]
local_view = [
    dict(type='RandomResizedCrop', scale=local_crop_size, crop_ratio_range=(0.05, 0.4),
         interpolation='bicubic', backend='pillow'),
    *_color,
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.5),
]
train_pipeline = [
    dict(type='SafeLoadImageFromFile'),  # skips (and counts) unreadable images
    dict(type='MultiCropWithMasks',
         global_pipelines=[global_view1, global_view2],
         local_pipeline=local_view,
         num_local_crops=num_local_crops,
         mask_cfg=dict(patch_size=patch_size, ratios=(0.0, 0.3), ratio_vars=(0.0, 0.2),
                       min_aspect=0.3)),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    # Per-sample seeds: augmentations and masks do not depend on workers, ranks or restarts.
    sampler=dict(type='SeededSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='SeededDataset',
        dataset=dict(type='ImageNet', data_root='data/imagenet/', split='train',
                     pipeline=train_pipeline)))
