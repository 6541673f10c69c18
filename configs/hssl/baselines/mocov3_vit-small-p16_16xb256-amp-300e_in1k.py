# Plain MoCo v3 baseline: the same recipe as
# hssl-mocov3_vit-small-p16_aux-convnext3_16xb256-amp-300e_in1k.py
# without the auxiliary head and its projector branch.
_base_ = ['../hssl-mocov3_vit-small-p16_aux-convnext3_16xb256-amp-300e_in1k.py']

model = dict(neck=None, head=dict(with_aux=False))
