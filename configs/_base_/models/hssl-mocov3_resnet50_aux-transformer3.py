# HSSL-MoCo v3 with a CNN base: ResNet-50 and the three-block transformer auxiliary head; MoCo v3's
# ResNet projector (2 layers) and predictor (2 layers, no output BN), InfoNCE at temperature 1.0.
_base_ = ['./hssl-dino_resnet50_aux-transformer3.py']

model = dict(
    base_momentum=0.99,
    neck=dict(drop_path_rate=0.),
    head=dict(_delete_=True, type='MoCoV3Projector', in_channels=2048, aux_in_channels=768,
              hidden_channels=4096, out_channels=256, num_layers=2, predictor_layers=2,
              predictor_last_norm=False, norm_cfg=dict(type='SyncBN')),
    loss=dict(_delete_=True, type='MoCoV3Loss', temperature=1.0))
