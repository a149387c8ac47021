"""Optax optimisers behind ``--optimizer``: name -> factory(lr) -> optax.GradientTransformation."""
import optax

from rnnstab.registry import Registry
from rnnstab.regularisers import make_reg, parse_reg

OPTIMIZERS = Registry("optimizer")
OPTIMIZERS.register("adam", optax.adam, "Adam (Kingma & Ba 2015), the papers' default")
OPTIMIZERS.register("adamw", optax.adamw, "Adam with decoupled weight decay 1e-4")
OPTIMIZERS.register("sgd", optax.sgd, "plain stochastic gradient descent")
OPTIMIZERS.register("rmsprop", optax.rmsprop, "RMSProp")


def learning_rate(lr: float, half_life: int = 0) -> float | optax.Schedule:
  """The learning rate at each update: ``lr``, or with ``half_life`` > 0 ``lr * 0.5 ** (step / half_life)``.

  The decay is fixed per step, not stretched over a run's length, so a run extended with more steps keeps
  the schedule it was trained with (``rnnstab.experiment.resume``).
  """
  return optax.exponential_decay(lr, transition_steps=half_life, decay_rate=0.5) if half_life else lr


def make_optimizer(name: str, lr: float, clip: float = 0.0, reg: str = "none",
                   lr_half_life: int = 0) -> optax.GradientTransformation:
  """The named optimiser at learning rate ``lr`` (halving every ``lr_half_life`` updates when > 0), after
  global-norm clipping when ``clip`` > 0, after the regulariser ``reg`` (``rnnstab.regularisers``: its
  penalty's gradient joins the task gradient first)."""
  parts = ([make_reg(*parse_reg(reg))] + ([optax.clip_by_global_norm(clip)] if clip > 0 else [])
           + [OPTIMIZERS[name](learning_rate(lr, lr_half_life))])
  parts = [p for p in parts if p is not None]
  return parts[0] if len(parts) == 1 else optax.chain(*parts)
