# HSSL-iBOT, the reference recipe: ViT-B/16 base, three 7x7 ConvNeXt blocks as the auxiliary head.
num_layers = 12
aux_depth = 3
drop_path_rate = 0.1
out_channels = 8192

model = dict(
    type='HSSLAlgorithm',
    base_momentum=0.996,
    backbone=dict(
        type='MaskedVisionTransformer',
        arch='base',
        img_size=224,
        patch_size=16,
        # One stochastic-depth ramp over base and aux blocks: linspace(0, 0.1, 15)[:12].
        drop_path_rate=drop_path_rate * (num_layers - 1) / (num_layers + aux_depth - 1),
        final_norm=True,
        out_type='cls_token',
        # The reference initialisation (DINO/iBOT/HSSL): every Linear truncated normal std 0.02,
        # zero bias; mmpretrain's own ViT init is init_mode='mmpretrain'.
        init_mode='trunc_normal'),
    neck=dict(
        type='AuxConvNeXtHead',
        in_channels=768,
        depth=aux_depth,
        kernel_size=7,
        first_shortcut=False,
        drop_path_rate=drop_path_rate,
        base_depth=num_layers),
    head=dict(
        type='HSSLProjector',
        in_channels=768,
        out_channels=out_channels,
        hidden_channels=2048,
        bottleneck_channels=256,
        num_layers=3,
        norm_last_layer=True),
    loss=dict(
        type='IBOTLoss',
        out_channels=out_channels,
        student_temp=0.1,
        center_momentum=0.9,
        lambda_cls=1.0,
        lambda_patch=1.0),
)
