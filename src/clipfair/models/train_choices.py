"""The choices of the demo CLIP's training, in one place and free of torch: the trainer
(train_clip.py), the CLI's ``choices=`` (whose ``--help`` must not import torch) and a test
that holds the config schema's enums to them read these."""

#: ``train_clip.token_embedding``. ``frozen``: the token embedding keeps its seeded random
#: init. It holds 6.3 M of the tiny model's 7.4 M parameters; its dense gradient and AdamW
#: state cost a quarter of each step on the CPU (measured: 85 vs 115 ms at batch 32), and the
#: text transformer learns to read the fixed vectors (zero-shot on the demo's val, 6 epochs:
#: gender 0.878 vs 0.885, race 0.725 vs 0.732, age 0.432 vs 0.391 trained).
TOKEN_EMBEDDING = ("frozen", "trained")
