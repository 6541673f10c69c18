# Fine-tuning of an HSSL-pretrained ViT-S/16 (384 wide, 6 heads) for 100 epochs; the ViT-B/16
# recipe with a milder layer-wise lr decay (0.75) for the smaller model.
_base_ = ['./vit-base-p16_8xb128-coslr-100e_in1k.py']

# Weights:
#   python tools/model_converters/extract_backbone.py CKPT pretrain/hssl_vit-small-p16.pth
#   (writes pretrain/hssl_vit-small-p16-<sha256[:8]>.pth; pretrain/hssl_vit-small-p16.pth names it)
checkpoint = 'pretrain/hssl_vit-small-p16.pth'  # the stable name extract_backbone.py writes
model = dict(
    backbone=dict(arch='deit-small', init_cfg=dict(checkpoint=checkpoint)),
    head=dict(in_channels=384))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.75))
