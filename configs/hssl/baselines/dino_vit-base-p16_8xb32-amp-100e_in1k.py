# Plain DINO baseline: the same recipe as
# hssl-dino_vit-base-p16_aux-convnext3_8xb32-amp-100e_in1k.py
# without the auxiliary head and its projector branch; the base keeps the plain
# stochastic-depth rate 0.1.
_base_ = ['../hssl-dino_vit-base-p16_aux-convnext3_8xb32-amp-100e_in1k.py']

model = dict(neck=None, backbone=dict(drop_path_rate=0.1), head=dict(with_aux=False))
