# LARS for ResNet-50 bases (MoCo v3's recipe): lr warm-up then cosine, constant weight decay 1e-6;
# norms, biases, position embeddings and class tokens get neither decay nor LARS adaptation.
max_epochs = 100
warmup_epochs = 10

_exclude = dict(decay_mult=0., lars_exclude=True)
optim_wrapper = dict(
    type='SSLOptimWrapper',
    # Optimizes the student only; the EMA teacher follows by moving average.
    constructor='StudentOptimWrapperConstructor',
    optimizer=dict(type='LARS', lr=9.6, weight_decay=1e-6, momentum=0.9),
    paramwise_cfg=dict(
        flat_decay_mult=0.0,
        custom_keys={
            'bn': _exclude,
            'downsample.1': _exclude,  # the BN of ResNet's projection shortcut
            'norm': _exclude,
            'bias': _exclude,
            'pos_embed': _exclude,
            'cls_token': _exclude,
        }))

# The decay has no `end`: the runner ends it with train_cfg.max_epochs (and T_max defaults to
# end - begin), so a config with another length changes train_cfg only.
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=warmup_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=4096)
