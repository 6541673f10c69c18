# Plain iBOT baseline for hssl-ibot_vit-mini-p4_aux-convnext2_1xb128-6e_fashion-mnist.py: the same
# base model, projector, data, schedule and seed, without the auxiliary head (HSSLAlgorithm with
# neck=None: the base learns from the teacher's base class token).
_base_ = ['./hssl-ibot_vit-mini-p4_aux-convnext2_1xb128-6e_fashion-mnist.py']

model = dict(neck=None, head=dict(with_aux=False))
