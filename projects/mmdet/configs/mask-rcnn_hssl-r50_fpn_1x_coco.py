# Mask R-CNN + FPN, COCO 1x, on the ResNet-50 base of an HSSL run (e.g. configs/hssl/
# hssl-dino_resnet50_aux-transformer3_8xb64-100e_in1k.py), with mmdet's recipe for self-supervised
# backbones: SyncBN trained, nothing frozen beyond the stem.
# mmdet's ResNet has mmpretrain's parameter names, so the default 'mmpretrain' export loads with
# prefix='backbone.':
#   python tools/model_converters/extract_backbone.py CKPT pretrain/hssl_r50.pth --arch resnet
#   (writes pretrain/hssl_r50-<sha256[:8]>.pth; pretrain/hssl_r50.pth names it)
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py']
custom_imports = dict(imports=['mmhssl', 'mmhssl.downstream'], allow_failed_imports=False)

checkpoint = 'pretrain/hssl_r50.pth'  # the stable name extract_backbone.py writes
model = dict(
    backbone=dict(
        frozen_stages=0,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        norm_eval=False,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')))

# Atomic checkpoints that the safe loader reads on resume, as in configs/_base_/default_runtime.py.
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')),
                     plain_history=dict(type='PlainHistoryHook'))
