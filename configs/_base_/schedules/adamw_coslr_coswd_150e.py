# The 100-epoch AdamW schedule stretched to 150 epochs (the longer of the two schedules the HSSL
# authors released): the same 10 warm-up epochs, cosine lr and weight decay over all epochs.
_base_ = ['./adamw_coslr_coswd_100e.py']

max_epochs = 150
warmup_epochs = 10

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-9, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=2e-6, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingWeightDecay', eta_min=0.4, T_max=max_epochs, by_epoch=True, begin=0,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
