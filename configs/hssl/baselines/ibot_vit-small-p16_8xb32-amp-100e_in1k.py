# Plain iBOT baseline for the HSSL-iBOT ViT-S/16 recipe.
_base_ = ['../hssl-ibot_vit-small-p16_aux-convnext3_8xb32-amp-100e_in1k.py']

model = dict(neck=None, backbone=dict(drop_path_rate=0.1), head=dict(with_aux=False))
