# HSSL-DINO: ViT-B/16 base, three 7x7 ConvNeXt blocks as the auxiliary head, DINO's multi-crop CLS
# self-distillation (no masked image modeling, so no mask token).
_base_ = ['./hssl-ibot_vit-base-p16_aux-convnext3.py']

out_channels = 65536
model = dict(
    backbone=dict(with_mask_token=False),
    head=dict(out_channels=out_channels),
    loss=dict(_delete_=True, type='DINOLoss', out_channels=out_channels, student_temp=0.1,
              center_momentum=0.9))
