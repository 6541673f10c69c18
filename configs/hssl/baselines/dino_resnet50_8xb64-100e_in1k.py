# Plain DINO baseline: the same recipe as
# hssl-dino_resnet50_aux-transformer3_8xb64-100e_in1k.py
# without the auxiliary head and its projector branch.
_base_ = ['../hssl-dino_resnet50_aux-transformer3_8xb64-100e_in1k.py']

model = dict(neck=None, head=dict(with_aux=False))
