# Fine-tuning on ImageNet-1k of an HSSL-pretrained ViT-B/16 for 100 epochs with layer-wise lr decay
# (0.65), the MAE fine-tuning recipe that the HSSL authors use (RandAugment, mixup/cutmix, label
# smoothing, drop path 0.1, AdamW lr 2e-3 at batch 8 x 128). The classifier reads the class token
# after the final norm, so every pretrained parameter is used.
#   python tools/model_converters/extract_backbone.py CKPT pretrain/hssl_vit-base-p16.pth
#   (writes pretrain/hssl_vit-base-p16-<sha256[:8]>.pth; pretrain/hssl_vit-base-p16.pth names it)
_base_ = ['mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py']
custom_imports = dict(imports=['mmhssl'], allow_failed_imports=False)

checkpoint = 'pretrain/hssl_vit-base-p16.pth'  # the stable name extract_backbone.py writes
model = dict(
    backbone=dict(
        out_type='cls_token',
        final_norm=True,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')))
# Atomic checkpoints that the safe loader reads on resume, as in configs/_base_/default_runtime.py.
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')),
                     plain_history=dict(type='PlainHistoryHook'))
