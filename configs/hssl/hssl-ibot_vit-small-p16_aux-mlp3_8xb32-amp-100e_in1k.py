# Discrepancy control: ViT-S/16 base with three per-token MLP blocks (no spatial mixing) as the
# auxiliary head; otherwise the HSSL-iBOT ViT-S recipe.
_base_ = ['./hssl-ibot_vit-small-p16_aux-convnext3_8xb32-amp-100e_in1k.py']

# Width and block count of the ViT-S base as for the ConvNeXt head it replaces.
model = dict(
    neck=dict(_delete_=True, type='AuxMLPHead', in_channels={{_base_.model.neck.in_channels}},
              depth=3, first_shortcut=False, drop_path_rate=0.1,
              base_depth={{_base_.model.neck.base_depth}}))
