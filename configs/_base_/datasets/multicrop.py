# DINO multi-crop: the two asymmetric global views of multicrop_masks.py (224 px, scale 0.14-1) and
# ten local views (96 px, scale 0.05-0.4), no masks.
_base_ = ['./multicrop_masks.py']

num_local_crops = 10
train_pipeline = [
    dict(type='SafeLoadImageFromFile'),  # skips (and names) unreadable images
    dict(type='MultiCropWithMasks',
         global_pipelines=[{{_base_.global_view1}}, {{_base_.global_view2}}],
         local_pipeline={{_base_.local_view}},
         num_local_crops=num_local_crops),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(dataset=dict(pipeline=train_pipeline)))
