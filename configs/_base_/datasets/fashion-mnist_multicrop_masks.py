# Fashion-MNIST (28x28 grayscale, 10 classes) from the Debian package dataset-fashion-mnist.
# Pretraining: two global 28 px views with block masks for patch size 4 (a 7x7 grid) and two local
# 12 px views; colour augmentations reduced to brightness/contrast, which act on gray images.
# Evaluation (kNN, linear probe, online kNN): labeled train/test splits without augmentation.
fmnist_root = '/usr/share/datasets/fashion-mnist'
global_crop_size = 28
local_crop_size = 12
patch_size = 4
num_local_crops = 2

data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[72.94, 72.94, 72.94],  # Fashion-MNIST train-set pixel mean and std
    std=[90.02, 90.02, 90.02],
    to_rgb=False)

_jitter = [
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomApply',
         transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4)],
         prob=0.8),
]
train_pipeline = [
    dict(type='MultiCropWithMasks',
         global_pipelines=[
             [dict(type='RandomResizedCrop', scale=global_crop_size, crop_ratio_range=(0.3, 1.),
                   interpolation='bicubic', backend='pillow'), *_jitter],
             [dict(type='RandomResizedCrop', scale=global_crop_size, crop_ratio_range=(0.3, 1.),
                   interpolation='bicubic', backend='pillow'), *_jitter,
              dict(type='Solarize', thr=128, prob=0.2)],
         ],
         local_pipeline=[
             dict(type='RandomResizedCrop', scale=local_crop_size, crop_ratio_range=(0.05, 0.3),
                  interpolation='bicubic', backend='pillow'), *_jitter],
         num_local_crops=num_local_crops,
         mask_cfg=dict(patch_size=patch_size, ratios=(0.0, 0.3), ratio_vars=(0.0, 0.2),
                       min_aspect=0.3)),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    pin_memory=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='LocalFashionMNIST', data_root=fmnist_root, split='train',
                 pipeline=train_pipeline))

# Labeled splits read by tools/benchmarks/{knn,linear_probe}.py.
eval_pipeline = [dict(type='PackInputs')]
eval_dataloaders = dict(
    train=dict(batch_size=256, num_workers=0,
               dataset=dict(type='LocalFashionMNIST', data_root=fmnist_root, split='train',
                            pipeline=eval_pipeline)),
    test=dict(batch_size=256, num_workers=0,
              dataset=dict(type='LocalFashionMNIST', data_root=fmnist_root, split='test',
                            pipeline=eval_pipeline)))
