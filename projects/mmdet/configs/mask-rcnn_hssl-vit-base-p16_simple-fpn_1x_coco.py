# Mask R-CNN, COCO 1x (12 epochs, 8 GPUs x 2 images), on an HSSL-pretrained ViT-B/16 with ViTDet's
# simple feature pyramid (strides 4-64 from the stride-16 map of the last block) and LN in the
# heads. Only the backbone's init_cfg points at our weights:
#   python tools/model_converters/extract_backbone.py CKPT pretrain/hssl_vit-base-p16.pth
#   (writes pretrain/hssl_vit-base-p16-<sha256[:8]>.pth; pretrain/hssl_vit-base-p16.pth names it)
# The backbone is mmpretrain's VisionTransformer (mmdet has no ViT of its own); every pretrained
# parameter is used, the final norm on the output map. Attention is global in every block.
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py']
custom_imports = dict(imports=['mmpretrain.models', 'mmhssl', 'mmhssl.downstream'],
                      allow_failed_imports=False)

checkpoint = 'pretrain/hssl_vit-base-p16.pth'  # the stable name extract_backbone.py writes
embed_dims = 768
norm_cfg = dict(type='mmpretrain.LN2d', eps=1e-6)
model = dict(
    data_preprocessor=dict(pad_size_divisor=32),
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='base',
        img_size=1024,
        patch_size=16,
        out_indices=(11, ),
        out_type='featmap',
        final_norm=True,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')),
    neck=dict(
        _delete_=True,
        type='SimpleFeaturePyramid',
        in_channels=embed_dims,
        out_channels=256,
        scale_factors=(4.0, 2.0, 1.0, 0.5),
        num_outs=5,
        norm_cfg=norm_cfg),
    rpn_head=dict(num_convs=2),
    roi_head=dict(
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', conv_out_channels=256, norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))

# AdamW with layer-wise lr decay (block i of 12 gets lr * 0.7 ** (12 - i)); no weight decay on
# position embedding, class token and norms. The 1x schedule (warm-up, steps at epochs 8 and 11)
# comes from the base config.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.1),
    constructor='BackboneLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.7,
        norm_decay_mult=0.0,
        custom_keys={
            '.pos_embed': dict(decay_mult=0.0),
            '.cls_token': dict(decay_mult=0.0)
        }))

# Atomic checkpoints that the safe loader reads on resume, as in configs/_base_/default_runtime.py.
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')),
                     plain_history=dict(type='PlainHistoryHook'))
