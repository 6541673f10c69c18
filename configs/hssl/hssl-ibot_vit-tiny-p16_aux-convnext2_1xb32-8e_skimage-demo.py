# Demo: HSSL-iBOT on the real photos bundled with scikit-image (tools/prepare_demo_data.py writes
# them to data/skimage_photos), sized to learn within a few minutes on 2 CPU cores. The model is
# that of the base config (ViT 192 wide, 4 blocks, 2-block ConvNeXt auxiliary head); what changes is
# how views are made. Each photo is decoded and resized once per pass, and
# BatchMultiCropPreprocessor cuts the 112 px global views (with block masks) and 48 px local views
# for the whole batch as tensor operations: per-image PIL crops, jitter and blur cost more than the
# model at this size and left the base config with too few optimiser steps (about 80) to learn
# anything.
_base_ = './hssl-ibot_vit-tiny-p16_aux-convnext2_1xb8-10e_skimage-demo.py'

global_crop_size = 64
local_crop_size = 32
out_channels = 256
num_local_crops = 4
batch_size = 32
max_epochs = 8
warmup_epochs = 1

model = dict(
    backbone=dict(img_size=global_crop_size),
    head=dict(out_channels=out_channels, hidden_channels=256),
    loss=dict(out_channels=out_channels))

data_preprocessor = dict(
    type='BatchMultiCropPreprocessor',
    global_size=global_crop_size,
    local_size=local_crop_size,
    num_local_crops=num_local_crops,
    global_scale=(0.14, 1.),
    local_scale=(0.05, 0.4),
    flip_prob=0.5,
    jitter_prob=0.8,
    brightness=0.4,
    contrast=0.4,
    solarize_probs=(0., 0.2),
    mask_cfg=dict(patch_size=16, ratios=(0.0, 0.3), ratio_vars=(0.0, 0.2), min_aspect=0.3))

# Whole photos at a fixed size (the held-out tiles of tools/demo.py are squashed to a square the
# same way), so that a batch stacks into one tensor.
train_pipeline = [
    dict(type='SafeLoadImageFromFile'),  # skips (and counts) unreadable images
    dict(type='Resize', scale=(224, 224), interpolation='bilinear'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(dataset=dict(times=94, dataset=dict(pipeline=train_pipeline))))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-9, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=1e-6, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingWeightDecay', eta_min=0.4, T_max=max_epochs, by_epoch=True, begin=0,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=max_epochs))
