# HSSL-DINO with a ResNet-50 base and a 3-block transformer auxiliary head: 2 global + 10 local
# crops, 100 epochs, 8 GPUs x 64 images, LARS at lr 0.3 per 256 images (DINO's ResNet-50 rate),
# no gradient clipping, teacher temperature 0.04 -> 0.07 over 30 epochs.
_base_ = [
    '../_base_/models/hssl-dino_resnet50_aux-transformer3.py',
    '../_base_/datasets/multicrop.py',
    '../_base_/datasets/imagenet_eval.py',
    '../_base_/schedules/lars_coslr_100e.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=64, drop_last=True)  # batch norms in the head
optim_wrapper = dict(optimizer=dict(lr=0.3 * 512 / 256))
auto_scale_lr = dict(base_batch_size=512)
custom_hooks = [
    dict(type='HSSLScheduleHook', momentum=(0.996, 1.0), teacher_temp=(0.04, 0.07),
         warmup_epochs=30, freeze_last_layer_epochs=1),
]
