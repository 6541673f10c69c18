# HSSL-MoCo v3: ViT-B/16 base, three 7x7 ConvNeXt blocks as the auxiliary head; projector (3 layers)
# and predictor (2 layers) with BN as MoCo v3, InfoNCE at temperature 0.2 against the momentum
# encoder's auxiliary keys. MoCo v3 trains ViTs without stochastic depth.
_base_ = ['./hssl-ibot_vit-base-p16_aux-convnext3.py']

model = dict(
    base_momentum=0.99,
    # MoCo v3 initialises its ViT with Xavier-uniform Linears, closer to mmpretrain's init than
    # to DINO/iBOT's truncated normal.
    backbone=dict(with_mask_token=False, drop_path_rate=0., init_mode='mmpretrain'),
    neck=dict(drop_path_rate=0.),
    head=dict(_delete_=True, type='MoCoV3Projector', in_channels=768,
              hidden_channels=4096, out_channels=256, num_layers=3, predictor_layers=2,
              predictor_last_norm=True, norm_cfg=dict(type='SyncBN')),
    loss=dict(_delete_=True, type='MoCoV3Loss', temperature=0.2))
