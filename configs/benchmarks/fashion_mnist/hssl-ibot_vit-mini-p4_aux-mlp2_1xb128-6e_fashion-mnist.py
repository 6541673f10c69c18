# Control for the Fashion-MNIST benchmark: the HSSL-iBOT recipe with a 2-block per-token MLP
# auxiliary head (no spatial mixing: little architectural discrepancy with the ViT) instead of the
# ConvNeXt head; every other setting is that of hssl-ibot_vit-mini-p4_aux-convnext2_1xb64-100e.
_base_ = ['./hssl-ibot_vit-mini-p4_aux-convnext2_1xb128-6e_fashion-mnist.py']

model = dict(
    neck=dict(_delete_=True, type='AuxMLPHead', in_channels=64, depth=2, first_shortcut=False,
              drop_path_rate=0.0, base_depth=4))
