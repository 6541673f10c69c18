# HSSL-DINO with a CNN base: ResNet-50, and three transformer blocks (768 wide after a 1x1 reduction
# of the 2048-channel C5 map, learned position embedding on the 7x7 grid, class token) as the
# auxiliary head. DINO's ResNet head: MLPs with batch norm.
in_channels = 2048
aux_dims = 768
out_channels = 65536

model = dict(
    type='HSSLAlgorithm',
    base_momentum=0.996,
    backbone=dict(type='ResNet', depth=50, out_indices=(3, ), norm_cfg=dict(type='SyncBN')),
    neck=dict(
        type='AuxTransformerHead',
        in_channels=in_channels,
        embed_dims=aux_dims,
        num_heads=12,
        depth=3,
        grid_size=7,
        out_token='cls',
        first_shortcut=False,
        drop_path_rate=0.1,
        base_depth=0),
    head=dict(
        type='HSSLProjector',
        in_channels=in_channels,
        aux_in_channels=aux_dims,
        out_channels=out_channels,
        hidden_channels=2048,
        bottleneck_channels=256,
        num_layers=3,
        norm_cfg=dict(type='SyncBN'),
        norm_last_layer=True),
    loss=dict(type='DINOLoss', out_channels=out_channels, student_temp=0.1, center_momentum=0.9),
)
