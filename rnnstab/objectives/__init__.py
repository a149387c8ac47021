"""Objectives: pure losses of (params, inputs, key) and the pre-training phases built on them."""
from rnnstab.objectives.combine import with_objective
from rnnstab.objectives.lsc import lsc_loss, lsc_pretrain, lsc_targets
from rnnstab.objectives.manifold_attractor import add_manifold_attractor_reg, awh, mar_penalty
from rnnstab.objectives.orthogonality import add_orthogonality_reg, orthogonality_penalty
from rnnstab.objectives.penalty import add_penalty_gradient
from rnnstab.objectives.warmup import layer_vaa_star, warm_up, warmup_loss

__all__ = [
    "add_manifold_attractor_reg", "add_orthogonality_reg", "add_penalty_gradient", "awh", "layer_vaa_star",
    "lsc_loss", "lsc_pretrain", "lsc_targets", "mar_penalty", "orthogonality_penalty", "warm_up", "warmup_loss",
    "with_objective",
]
