# HSSL-DINO with a ViT-S/16 base (384 wide, 6 heads); otherwise the ViT-B/16 recipe.
_base_ = ['./hssl-dino_vit-base-p16_aux-convnext3_8xb32-amp-100e_in1k.py']

embed_dims = 384
model = dict(
    backbone=dict(arch='deit-small'),
    neck=dict(in_channels=embed_dims),
    head=dict(in_channels=embed_dims))
