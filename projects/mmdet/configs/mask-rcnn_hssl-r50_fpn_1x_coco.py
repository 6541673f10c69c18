# Mask R-CNN + FPN, COCO 1x, on the ResNet-50 base of an HSSL run (e.g. configs/hssl/
# hssl-dino_resnet50_aux-transformer3_8xb64-100e_in1k.py), with mmdet's recipe for self-supervised
# backbones: SyncBN trained, nothing frozen beyond the stem.
# mmdet's ResNet has mmpretrain's parameter names, so the default 'mmpretrain' export loads with
# prefix='backbone.':
#   python tools/model_converters/extract_backbone.py CKPT pretrain/hssl_r50.pth --arch resnet
#   ... --cfg-options model.backbone.init_cfg.checkpoint=pretrain/hssl_r50-<hash>.pth
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py']
custom_imports = dict(imports=['mmhssl'], allow_failed_imports=False)

checkpoint = 'pretrain/hssl_r50.pth'  # the file written by extract_backbone.py
model = dict(
    backbone=dict(
        frozen_stages=0,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        norm_eval=False,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')))
