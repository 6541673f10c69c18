# The 100-epoch AdamW schedule stretched to 150 epochs (the longer of the two schedules the HSSL
# authors released): the same 10 warm-up epochs, cosine lr and weight decay over all epochs.
_base_ = ['./adamw_coslr_coswd_100e.py']

max_epochs = 150
train_cfg = dict(max_epochs=max_epochs)
