# Mask R-CNN on Fashion-MNIST scenes (64 px canvases of 1-3 items, 24-40 px each; instance masks
# from the items' pixels; mmhssl.datasets.fashion_mnist_scenes) with the zoo's mini ViT (64 wide, 4
# blocks, patch 4). The ViTDet recipe of
# projects/mmdet/configs/mask-rcnn_hssl-vit-base-p16_simple-fpn_1x_coco.py with what the size
# requires changed: the backbone; the pyramid from its stride-4 map (strides 4-32) and anchors of
# 16-128 px for items of 24-40 px; 64-channel pyramid and heads, 200 proposals and 64 sampled RoIs
# per image (a scene holds about 2 items, COCO about 7; at 256 channels and 512 RoIs an iteration
# costs 15 times more); 10 classes; 64 px images, flips only; batch 8 for 1,000 iterations (4 epochs
# of the 2,000 training scenes) on one process, warm-up then cosine. The backbone's init_cfg names
# the weights; tools/benchmarks/transfer.py points it at each zoo file (or removes it for random
# initialisation) and changes nothing else.
_base_ = ['../../../projects/mmdet/configs/mask-rcnn_hssl-vit-base-p16_simple-fpn_1x_coco.py']

data_root = 'data/fmnist_scenes/'
checkpoint = ('checkpoints/fashion_mnist/'
              'hssl-ibot_vit-mini-p4_aux-convnext2_1xb128-6e_fashion-mnist-ec35db4e.pth')
classes = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker',
           'Bag', 'Ankle boot')
embed_dims = 64
channels = 64
canvas = 64
max_iters = 1000
batch_size = 8

model = dict(
    data_preprocessor=dict(mean=[72.94, 72.94, 72.94], std=[90.02, 90.02, 90.02],
                           bgr_to_rgb=False),
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=embed_dims, num_layers=4, num_heads=4,
                  feedforward_channels=4 * embed_dims),
        img_size=canvas,
        patch_size=4,
        out_indices=(3, ),
        drop_path_rate=0.1,
        init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=embed_dims, out_channels=channels, scale_factors=(1.0, 0.5), num_outs=4),
    rpn_head=dict(
        in_channels=channels,
        feat_channels=channels,
        anchor_generator=dict(scales=[4], strides=[4, 8, 16, 32])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=channels, featmap_strides=[4, 8, 16, 32]),
        bbox_head=dict(in_channels=channels, conv_out_channels=channels, fc_out_channels=256,
                       num_classes=len(classes)),
        mask_roi_extractor=dict(out_channels=channels, featmap_strides=[4, 8, 16, 32]),
        mask_head=dict(in_channels=channels, conv_out_channels=channels,
                       num_classes=len(classes))),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=400, max_per_img=200),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=400, max_per_img=200)))

metainfo = dict(classes=classes)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(canvas, canvas), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(canvas, canvas), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_train.json', data_prefix=dict(img='images/'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, ann_file='annotations/instances_val.json',
                 data_prefix=dict(img='images/'), pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_test.json', data_prefix=dict(img='images/'),
                 pipeline=test_pipeline))
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = dict(ann_file=data_root + 'annotations/instances_test.json',
                      metric=['bbox', 'segm'])

optim_wrapper = dict(optimizer=dict(lr=4e-4))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=max_iters // 10),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=False, begin=max_iters // 10,
         end=max_iters),
]
default_hooks = dict(logger=dict(interval=50),
                     checkpoint=dict(by_epoch=False, interval=250, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
