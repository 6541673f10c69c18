# Linear probe on ImageNet-1k of an HSSL-pretrained ViT-B/16: frozen backbone, a linear classifier
# on the class token after the final norm (the output HSSL trains), SGD, batch 8 x 128, 100 epochs.
# The checkpoint comes from tools/model_converters/extract_backbone.py (default target):
#   python tools/model_converters/extract_backbone.py CKPT pretrain/hssl_vit-base-p16.pth
#   (writes pretrain/hssl_vit-base-p16-<sha256[:8]>.pth; pretrain/hssl_vit-base-p16.pth names it)
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmhssl'], allow_failed_imports=False)

checkpoint = 'pretrain/hssl_vit-base-p16.pth'  # the stable name extract_backbone.py writes
arch, embed_dims, num_layers = 'base', 768, 12
train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch=arch,
        img_size=224,
        patch_size=16,
        out_type='cls_token',
        final_norm=True,
        frozen_stages=num_layers,  # every block and the final norm
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=embed_dims,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        init_cfg=dict(type='Normal', std=0.01, layer='Linear')))

# DINO's linear protocol: lr 0.001 per 256 images, no weight decay, cosine over 100 epochs.
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='SGD', lr=0.004, momentum=0.9, weight_decay=0.0))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=100, by_epoch=True, begin=0, end=100)]
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=10)
val_cfg = dict()
test_cfg = dict()
# Atomic checkpoints that the safe loader reads on resume, as in configs/_base_/default_runtime.py.
default_hooks = dict(
    checkpoint=dict(type='SafeCheckpointHook', interval=10, max_keep_ckpts=3,
                    backend_args=dict(backend='atomic_local')),
    plain_history=dict(type='PlainHistoryHook'))
auto_scale_lr = dict(base_batch_size=1024)
