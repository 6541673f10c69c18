# Plain MoCo v3 baseline: the same recipe as
# hssl-mocov3_resnet50_aux-transformer3_8xb512-amp-100e_in1k.py
# without the auxiliary head and its projector branch.
_base_ = ['../hssl-mocov3_resnet50_aux-transformer3_8xb512-amp-100e_in1k.py']

model = dict(neck=None, head=dict(with_aux=False))
