# ViT-S/16 (mmpretrain's arch 'deit-small': 384 wide, 12 blocks, 6 heads) in place of the ViT-B/16
# of an HSSL model: the auxiliary head and the projector read its 384-wide features. A ViT-S config
# adds this file to the _base_ list of its ViT-B/16 config and sets `model = {{_base_.vit_small}}`
# (two bases cannot both set `model`).
vit_small = dict(
    backbone=dict(arch='deit-small'),
    neck=dict(in_channels=384),
    head=dict(in_channels=384))
