# Fashion-MNIST (28x28 grayscale, 10 classes) from the Debian package dataset-fashion-mnist.
# Pretraining: the dataset yields whole images; BatchMultiCropPreprocessor makes two global 28 px
# views with block masks for patch size 4 (a 7x7 grid) and local 16 px views for the whole batch at
# once (per-image PIL transforms cost more than the model at this size). Colour augmentation is
# reduced to brightness/contrast, which act on gray images. Evaluation (kNN, linear probe, online
# kNN): labeled train/test splits without augmentation.
fmnist_root = '/usr/share/datasets/fashion-mnist'
global_crop_size = 28
local_crop_size = 16
patch_size = 4
num_local_crops = 4

data_preprocessor = dict(
    type='BatchMultiCropPreprocessor',
    global_size=global_crop_size,
    local_size=local_crop_size,
    num_local_crops=num_local_crops,
    global_scale=(0.35, 1.),
    local_scale=(0.1, 0.35),
    flip_prob=0.5,
    jitter_prob=0.8,
    brightness=0.4,
    contrast=0.4,
    solarize_probs=(0., 0.2),
    mask_cfg=dict(patch_size=patch_size, ratios=(0.0, 0.3), ratio_vars=(0.0, 0.2), min_aspect=0.3),
    mean=[72.94, 72.94, 72.94],  # Fashion-MNIST train-set pixel mean and std
    std=[90.02, 90.02, 90.02],
    to_rgb=False)

train_pipeline = [dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=64,
    num_workers=0,  # items are ready-made tensors: worker processes would only add copies
    persistent_workers=False,
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
