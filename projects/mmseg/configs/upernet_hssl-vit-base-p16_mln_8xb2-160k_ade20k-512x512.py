# UperNet + multi-level neck on ADE20K (512x512 crops, 160k iterations, 8 GPUs x 2 images) with an
# HSSL-pretrained ViT-B/16 and layer-wise lr decay. Only the backbone's init_cfg points at our
# weights:
#   python tools/model_converters/extract_backbone.py CKPT pretrain/hssl_vit-base-p16.pth
#   (writes pretrain/hssl_vit-base-p16-<sha256[:8]>.pth; pretrain/hssl_vit-base-p16.pth names it)
# The backbone is mmpretrain's VisionTransformer (mmseg's own ViT ignores init_cfg.prefix and names
# its attention differently), so the default 'mmpretrain' export loads with prefix='backbone.' and
# every parameter is used: blocks 4, 6, 8 and 12 feed the neck, the final norm the last of them.
_base_ = ['mmseg::vit/vit_vit-b16_mln_upernet_8xb2-160k_ade20k-512x512.py']
custom_imports = dict(imports=['mmpretrain.models', 'mmhssl', 'mmhssl.downstream'],
                      allow_failed_imports=False)

checkpoint = 'pretrain/hssl_vit-base-p16.pth'  # the stable name extract_backbone.py writes
crop_size = (512, 512)
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='base',
        img_size=crop_size,
        patch_size=16,
        out_indices=(3, 5, 7, 11),
        out_type='featmap',
        final_norm=True,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')),
    neck=dict(in_channels=[768, 768, 768, 768], out_channels=768, scales=[4, 2, 1, 0.5]),
    decode_head=dict(in_channels=[768, 768, 768, 768], num_classes=150),
    auxiliary_head=dict(in_channels=768, num_classes=150),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))

# AdamW with layer-wise lr decay (block i of 12 gets lr * 0.65 ** (12 - i)); no weight decay on
# position embedding, class token and norms.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='BackboneLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.65,
        norm_decay_mult=0.0,
        custom_keys={
            '.pos_embed': dict(decay_mult=0.0),
            '.cls_token': dict(decay_mult=0.0)
        }))
# LinearLR warm-up for 1500 iterations, then PolyLR to 160k, from the base config.

# Atomic checkpoints that the safe loader reads on resume, as in configs/_base_/default_runtime.py.
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')),
                     plain_history=dict(type='PlainHistoryHook'))
