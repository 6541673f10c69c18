# Plain iBOT baseline for hssl-ibot_vit-tiny-p4_aux-convnext2_1xb128-100e_fashion-mnist.py: the same
# base model, projector, data, schedule and seed, without the auxiliary head (HSSLAlgorithm with
# neck=None learns base CLS from the teacher's base CLS).
_base_ = ['./hssl-ibot_vit-tiny-p4_aux-convnext2_1xb128-100e_fashion-mnist.py']

model = dict(neck=None, head=dict(with_aux=False))
