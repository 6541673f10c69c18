# MoCo v3 augmentations: two asymmetric 224 px views (scale 0.08-1); view 1 always blurred, view 2
# blurred with p 0.1 and solarized with p 0.2. No local views, no masks.
_base_ = ['./multicrop_masks.py']

_color = [
    dict(type='RandomApply',
         transforms=[
             dict(type='SafeColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)
         ],
         prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
]
_crop = dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.), backend='pillow')
view1 = [
    _crop, *_color,
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=1.0),
    dict(type='RandomFlip', prob=0.5),
]
view2 = [
    _crop, *_color,
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.1),
    dict(type='Solarize', thr=128, prob=0.2),
    dict(type='RandomFlip', prob=0.5),
]
train_pipeline = [
    dict(type='SafeLoadImageFromFile'),  # skips (and names) unreadable images
    dict(type='MultiView', num_views=[1, 1], transforms=[view1, view2]),
    dict(type='PackInputs'),
]
# Batch norms in the projector and predictor need more than one image per batch (and MoCo v3 drops
# the last incomplete batch).
train_dataloader = dict(drop_last=True, dataset=dict(dataset=dict(pipeline=train_pipeline)))
