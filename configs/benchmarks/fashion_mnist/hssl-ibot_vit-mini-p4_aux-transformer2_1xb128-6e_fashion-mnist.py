# Homogeneous control for the Fashion-MNIST benchmark: the HSSL-iBOT recipe with two transformer
# blocks as the auxiliary head (the base's own architecture: width 64, 4 heads, the 7x7 token grid,
# pooled by averaging like the ConvNeXt head) instead of the ConvNeXt head; every other setting is
# that of hssl-ibot_vit-mini-p4_aux-convnext2_1xb128-6e_fashion-mnist.py.
_base_ = ['./hssl-ibot_vit-mini-p4_aux-convnext2_1xb128-6e_fashion-mnist.py']

model = dict(
    neck=dict(_delete_=True, type='AuxTransformerHead', in_channels=64, depth=2, num_heads=4,
              grid_size=7, out_token='avg', first_shortcut=False, drop_path_rate=0.0,
              base_depth=4))
