# HSSL-iBOT with a ViT-S/16 base (384 wide, 6 heads); otherwise the ViT-B/16 recipe.
_base_ = [
    './hssl-ibot_vit-base-p16_aux-convnext3_8xb32-amp-100e_in1k.py',
    '../_base_/models/vit-small-p16.py',
]

model = {{_base_.vit_small}}
