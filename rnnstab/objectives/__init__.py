"""Objectives: pure losses of (params, inputs, key) and the pre-training phases built on them."""
from rnnstab.objectives.warmup import layer_vaa_star, warm_up, warmup_loss

__all__ = ["layer_vaa_star", "warm_up", "warmup_loss"]
