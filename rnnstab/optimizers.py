"""Optax optimisers behind ``--optimizer``: name -> factory(lr) -> optax.GradientTransformation."""
import optax

from rnnstab.registry import Registry

OPTIMIZERS = Registry("optimizer")
OPTIMIZERS.register("adam", optax.adam, "Adam (Kingma & Ba 2015), the papers' default")
OPTIMIZERS.register("adamw", optax.adamw, "Adam with decoupled weight decay 1e-4")
OPTIMIZERS.register("sgd", optax.sgd, "plain stochastic gradient descent")
OPTIMIZERS.register("rmsprop", optax.rmsprop, "RMSProp")


def make_optimizer(name: str, lr: float, clip: float = 0.0) -> optax.GradientTransformation:
  """The named optimiser at learning rate ``lr``, after global-norm clipping when ``clip`` > 0."""
  opt = OPTIMIZERS[name](lr)
  return optax.chain(optax.clip_by_global_norm(clip), opt) if clip > 0 else opt
