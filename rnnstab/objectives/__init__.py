"""Objectives: pure losses of (params, inputs, key) and the pre-training phases built on them."""
from rnnstab.objectives.lsc import lsc_loss, lsc_pretrain, lsc_targets
from rnnstab.objectives.warmup import layer_vaa_star, warm_up, warmup_loss

__all__ = ["layer_vaa_star", "lsc_loss", "lsc_pretrain", "lsc_targets", "warm_up", "warmup_loss"]
