"""Optax optimisers behind ``--optimizer``: name -> factory(lr) -> optax.GradientTransformation."""
import optax

from rnnstab.registry import Registry
from rnnstab.regularisers import make_reg, parse_reg

OPTIMIZERS = Registry("optimizer")
OPTIMIZERS.register("adam", optax.adam, "Adam (Kingma & Ba 2015), the papers' default")
OPTIMIZERS.register("adamw", optax.adamw, "Adam with decoupled weight decay 1e-4")
OPTIMIZERS.register("sgd", optax.sgd, "plain stochastic gradient descent")
OPTIMIZERS.register("rmsprop", optax.rmsprop, "RMSProp")


def make_optimizer(name: str, lr: float, clip: float = 0.0, reg: str = "none") -> optax.GradientTransformation:
  """The named optimiser at learning rate ``lr``, after global-norm clipping when ``clip`` > 0, after the
  regulariser ``reg`` (``rnnstab.regularisers``: its penalty's gradient joins the task gradient first)."""
  parts = [make_reg(*parse_reg(reg))] + ([optax.clip_by_global_norm(clip)] if clip > 0 else []) + [OPTIMIZERS[name](lr)]
  parts = [p for p in parts if p is not None]
  return parts[0] if len(parts) == 1 else optax.chain(*parts)
