# Discrepancy control (homogeneous pair): ViT-S/16 base with three transformer blocks as the
# auxiliary head, pooled by averaging like the ConvNeXt head; otherwise the HSSL-iBOT ViT-S recipe.
_base_ = ['./hssl-ibot_vit-small-p16_aux-convnext3_8xb32-amp-100e_in1k.py']

# Width and block count of the ViT-S base as for the ConvNeXt head it replaces.
model = dict(
    neck=dict(_delete_=True, type='AuxTransformerHead',
              in_channels={{_base_.model.neck.in_channels}}, depth=3, num_heads=6, grid_size=14,
              out_token='avg', first_shortcut=False, drop_path_rate=0.1,
              base_depth={{_base_.model.neck.base_depth}}))
