# Few-label fine-tuning of the Fashion-MNIST zoo's mini ViT (64 wide, 4 blocks, patch 4, 28 px): the
# ImageNet layer-decay fine-tuning recipe (configs/benchmarks/imagenet/vit-small-p16_*) with what
# the size requires changed: the backbone, the data (a fixed, class-balanced 1 % of the train
# labels, the first 60 images of each class; top-1 on the full 10,000-image test split),
# augmentations for 28 px gray images (flips and 2 px shifts instead of RandAugment, random erasing,
# mixup and cutmix), batch 64 on one process with lr 1e-3 and 40 epochs (400 iterations). The
# backbone's init_cfg names the weights, as in the parent; tools/benchmarks/transfer.py points it at
# each zoo file (or removes it for random initialisation) and changes nothing else.
_base_ = ['../imagenet/vit-small-p16_8xb128-coslr-100e_in1k.py']

fmnist_root = '/usr/share/datasets/fashion-mnist'
checkpoint = ('checkpoints/fashion_mnist/'
              'hssl-ibot_vit-mini-p4_aux-convnext2_1xb128-6e_fashion-mnist-ec35db4e.pth')
num_per_class = 60
max_epochs = 40
batch_size = 64

model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=64, num_layers=4, num_heads=4,
                  feedforward_channels=256),
        img_size=28,
        patch_size=4,
        drop_path_rate=0.1,
        init_cfg=dict(checkpoint=checkpoint)),
    head=dict(num_classes=10, in_channels=64),
    data_preprocessor=dict(mean=[72.94, 72.94, 72.94], std=[90.02, 90.02, 90.02], to_rgb=False,
                           num_classes=10),
    train_cfg=dict(_delete_=True))

train_pipeline = [
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomCrop', crop_size=28, padding=2, padding_mode='edge'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(_delete_=True, type='LocalFashionMNIST', data_root=fmnist_root, split='train',
                 num_per_class=num_per_class, pipeline=train_pipeline))
test_dataloader = dict(
    batch_size=256,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(_delete_=True, type='LocalFashionMNIST', data_root=fmnist_root, split='test',
                 pipeline=test_pipeline))
test_evaluator = dict(type='Accuracy', topk=(1, ))
# The benchmark reports the last epoch on the test split; nothing is selected on it during training.
val_dataloader = None
val_evaluator = None
val_cfg = None

optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=max_epochs // 10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=max_epochs // 10,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs + 1)
auto_scale_lr = dict(enable=False)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=10, max_keep_ckpts=1))
