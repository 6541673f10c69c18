# Labeled ImageNet-1k splits for frozen-feature evaluation: tools/benchmarks/knn.py and
# tools/benchmarks/linear_probe.py read `eval_dataloaders` (the online kNN hook can reuse its
# datasets).
# Layout (mmpretrain's ImageNet folder layout): data/imagenet/train/<class>/<image> and
# data/imagenet/val/<class>/<image>; labels are the sorted class-folder names, which for the 1000
# WordNet-id folders is ImageNet's own class order. With mmpretrain's list layout (meta/train.txt
# and meta/val.txt, "relative/path label" per line, paths relative to train/ and val/) add
#   --cfg-options eval_dataloaders.train.dataset.ann_file=meta/train.txt \
#                 eval_dataloaders.test.dataset.ann_file=meta/val.txt
# DINO's evaluation transform: shorter side to 256 (bicubic), centre 224 crop; normalisation is the
# config's data preprocessor, as in pretraining.
imagenet_root = 'data/imagenet/'
eval_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
eval_dataloaders = dict(
    train=dict(batch_size=128, num_workers=8,
               dataset=dict(type='CustomDataset', data_root=imagenet_root, data_prefix='train',
                            pipeline=eval_pipeline)),
    test=dict(batch_size=128, num_workers=8,
              dataset=dict(type='CustomDataset', data_root=imagenet_root, data_prefix='val',
                           pipeline=eval_pipeline)))
