# MoCo v3's ViT schedule: AdamW at lr 1.5e-4 per 256 images (2.4e-3 at 4096), constant weight
# decay 0.1, no gradient clipping, 40 warm-up epochs then cosine to 0 over 300 epochs.
max_epochs = 300
warmup_epochs = 40

optim_wrapper = dict(
    type='SSLOptimWrapper',
    # Optimizes the student only; the EMA teacher follows by moving average.
    constructor='StudentOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=2.4e-3, betas=(0.9, 0.999), weight_decay=0.1),
    # No weight decay on biases and norm weights (all 1-D tensors).
    paramwise_cfg=dict(flat_decay_mult=0.0))

# The decay has no `end`: the runner ends it with train_cfg.max_epochs (and T_max defaults to
# end - begin), so a config with another length changes train_cfg only.
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=warmup_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=4096)
