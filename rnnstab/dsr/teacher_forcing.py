"""Training a PLRNN to reproduce a dynamical system: sparse and generalised teacher forcing, free running.

The model is an autonomous PLRNN z_t = A z_{t-1} + W relu(z_{t-1}) + h with M latent units, observed through
the identity on its first N units (x_hat_t = z_t[:N]), the setting of the teacher-forcing papers, started
from the Talathi-Vartak init as theirs. A training sample is a window x_0 .. x_T of the data; z_0 = [x_0, L x_0]
with L (M - N, N) learned, so the unobserved units start from the observed state. At every step the model
predicts x_hat_t = F(z_{t-1})[:N], the loss is the mean squared error over the window, and the state is then
pulled towards the data (optionally noised, ``tf_noise``: the teacher signal gets fresh Gaussian noise every
step, the targets do not, which keeps the model from relying on exact forcing values):

- sparse teacher forcing ("stf", interval tau): every tau-th step, z_t[:N] <- x_t; between forcings the model
  runs freely, so the gradient sees tau-step horizons and never explodes through chaotic stretches;
- generalised teacher forcing ("gtf", alpha): every step, z_t[:N] <- (1 - alpha) z_t[:N] + alpha x_t. With
  ``alpha="adaptive"`` alpha starts at 1 and follows estimates max(0, 1 - 1/G) made every ``alpha_every``
  steps, G the largest over the batch's windows of the geometric mean over a window of the one-step
  Jacobians' spectral norms (power iteration, no gradient through it): the forcing just cancels the
  expected growth of the gradient. A larger estimate is taken at once, a smaller one approached slowly
  (alpha <- gamma alpha + (1 - gamma) estimate, gamma = 0.999), as Hess et al. anneal it.
``generate`` then runs the trained model freely from a data point, for the measures of ``rnnstab.dsr``.

References:
  Mikhaeil, Monfared & Durstewitz, "On the difficulty of learning chaotic dynamics with RNNs", NeurIPS 2022
  (sparse teacher forcing).
  Hess, Monfared, Brenner & Durstewitz, "Generalized teacher forcing for learning chaotic dynamics",
  ICML 2023 (GTF and its adaptive alpha).
  Schmidt et al., ICLR 2021 (PLRNN, manifold-attractor regularisation).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import optax

from rnnstab.cells.plrnn import PLRNN
from rnnstab.cells.base import f32
from rnnstab.objectives.manifold_attractor import add_manifold_attractor_reg, awh

METHODS = ("stf", "gtf")
LR_SCHEDULES = ("exponential", "multistep")
INITS = ("talathi_vartak", "default")


def plrnn_map(cell: PLRNN, params) -> Callable:
  """The autonomous latent map z -> F(z) of a PLRNN (no external input)."""
  return lambda z: cell.recur(params, z, f32(params["h"]))[0]


def _spectral_norm(step, z, key, iterations: int = 20):
  """||dF/dz||_2 at z by power iteration on J^T J (JVP then VJP)."""
  _, jvp = jax.linearize(step, z)
  vjp = jax.linear_transpose(jvp, z)
  v = jax.random.normal(key, z.shape, jnp.float32)

  def body(v, _):
    w = vjp(jvp(v))[0]
    return w / jnp.maximum(jnp.linalg.norm(w), 1e-30), None

  v, _ = jax.lax.scan(body, v / jnp.linalg.norm(v), None, length=iterations)
  return jnp.linalg.norm(jvp(v))


def initial_latent(params, x0: jax.Array) -> jax.Array:
  """z_0 = [x_0, L x_0]: the observed units at the data point, the others a learned linear function of it."""
  return jnp.concatenate([x0, f32(params["L"]) @ x0])


def adaptive_alpha(cell: PLRNN, params, window: jax.Array, key) -> jax.Array:
  """alpha = max(0, 1 - 1/G), G the geometric mean of ||J(z_t)||_2 along a forced trajectory of the window
  (Hess et al. 2023's upper-bound estimate). Not differentiated."""
  params = jax.lax.stop_gradient(params)
  step = plrnn_map(cell, params)
  N = window.shape[-1]
  z = initial_latent(params, window[0])
  zs = jax.vmap(lambda x: z.at[:N].set(x))(window[:-1])   # states at the data (the forcing's fixed points)
  norms = jax.vmap(_spectral_norm, (None, 0, 0))(step, zs, jax.random.split(key, zs.shape[0]))
  G = jnp.exp(jnp.mean(jnp.log(jnp.maximum(norms, 1e-12))))
  return jnp.maximum(0.0, 1.0 - 1.0 / G)


def anneal_alpha(alpha: jax.Array, estimate: jax.Array, gamma: float) -> jax.Array:
  """Hess et al.'s update of the adaptive GTF weight: up to a larger estimate at once, towards a smaller one
  by gamma alpha + (1 - gamma) estimate, so the forcing relaxes only as training keeps the Jacobians tame."""
  return jnp.where(estimate > alpha, estimate, gamma * alpha + (1.0 - gamma) * estimate)


def forced_loss(cell: PLRNN, params, window: jax.Array, *, method: str, interval: int = 25,
                alpha: float | jax.Array = 0.0, teacher: jax.Array | None = None) -> jax.Array:
  """Mean squared one-step-ahead error of the model over one data window under teacher forcing.

  Args:
    cell: the PLRNN (hidden_size M >= the data's dimension N).
    params: its params.
    window: (T + 1, N) data.
    method: "stf" (force every ``interval`` steps) or "gtf" (mix with weight ``alpha`` every step).
    interval: tau of sparse teacher forcing.
    alpha: the GTF weight in [0, 1] (1: full teacher forcing, 0: free running).
    teacher: (T + 1, N) values the state is forced to and started from (default: the window itself; a
      noised copy for ``tf_noise``); the loss always scores the window.

  Returns:
    Scalar loss, differentiable in params.
  """
  if method not in METHODS:
    raise ValueError(f"method: unknown teacher forcing {method!r}; valid choices: {', '.join(METHODS)}")
  teacher = window if teacher is None else teacher
  step = plrnn_map(cell, params)
  N = window.shape[-1]

  def body(z, txs):
    t, x, s = txs
    z = step(z)
    err = jnp.mean(jnp.square(z[:N] - x))
    if method == "stf":
      z = jnp.where((t + 1) % interval == 0, z.at[:N].set(s), z)
    else:
      z = z.at[:N].set((1.0 - alpha) * z[:N] + alpha * s)
    return z, err

  _, errs = jax.lax.scan(body, initial_latent(params, teacher[0]),
                         (jnp.arange(window.shape[0] - 1), window[1:], teacher[1:]))
  return jnp.mean(errs)


def generate(cell: PLRNN, params, x0: jax.Array, steps: int) -> jax.Array:
  """(steps, N) observations of the freely running model started at z_0 = [x0, L x0]."""
  step = plrnn_map(cell, params)
  N = x0.shape[-1]

  def body(z, _):
    z = step(z)
    return z, z[:N]

  return jax.lax.scan(body, initial_latent(params, x0), None, length=steps)[1]


@dataclasses.dataclass(frozen=True)
class DSRConfig:
  """Settings of ``train``. Defaults: a short Lorenz-63 run that fits a 2-core CPU.

  Attributes:
    hidden: latent units M (>= the data's dimension).
    method: "stf" or "gtf".
    interval: tau of sparse teacher forcing (~ the inverse Lyapunov time in steps: 25 for Lorenz-63 at 0.01).
    alpha: GTF weight, a number in [0, 1] or "adaptive".
    alpha_every: steps between estimates of the adaptive alpha (5 in Hess et al.'s code).
    alpha_gamma: annealing factor of the adaptive alpha towards smaller estimates.
    window: T, steps per training window.
    batch: windows per step.
    steps: optimiser steps.
    lr: Adam learning rate at the first step.
    lr_schedule: "exponential": decays to lr * lr_decay at the last step (1: constant; GTF's code decays
      1e-3 towards 1e-6); "multistep": lr for the first 10% of the steps, then 0.1 lr, 0.01 lr from 80%
      and 0.001 lr from 90% (the dendPLRNN code's schedule; ignores lr_decay).
    lr_decay: final / initial learning rate of the exponential schedule.
    clip: global gradient-norm clip (0: none).
    init: the PLRNN's recurrent init: "talathi_vartak" (the reconstruction papers') or "default" (the
      rPLRNN benchmarks' random init); manifold-attractor regularisation then sets AWh on top.
    latent_clip: clip the latent state to [-c, c] every step (0: off), the clipped PLRNN of the
      reconstruction code, which bounds free runs (units near perfect integrators can drift otherwise).
    mean_centre: the mean-centred PLRNN (relu(z - mean z)), as the reconstruction papers' vanilla PLRNN.
    tf_noise: standard deviation of the Gaussian noise added to the teacher signal (data standardised).
    mar_tau: manifold-attractor regularisation strength (0: off) on ``mar_fraction`` of the units.
    mar_fraction: share of regularised units.
    awh: the AWh init on ``mar_fraction`` of the units (those units start as perfect integrators);
      None: with the regularisation (mar_tau > 0) only, as the rPLRNN. True with mar_tau = 0 is the
      init without the penalty (the iPLRNN of the addition problem), False with mar_tau > 0 the penalty
      without the init.
  """

  hidden: int = 20
  method: str = "stf"
  interval: int = 25
  alpha: float | str = "adaptive"
  alpha_every: int = 5
  alpha_gamma: float = 0.999
  window: int = 200
  batch: int = 16
  steps: int = 2000
  lr: float = 1e-3
  lr_schedule: str = "exponential"
  lr_decay: float = 1.0
  clip: float = 10.0
  init: str = "talathi_vartak"
  mean_centre: bool = False
  latent_clip: float = 0.0
  tf_noise: float = 0.0
  mar_tau: float = 0.0
  mar_fraction: float = 0.5
  awh: bool | None = None

  def __post_init__(self):
    if self.method not in METHODS:
      raise ValueError(f"--method: unknown teacher forcing {self.method!r}; valid choices: {', '.join(METHODS)}")
    if not (self.alpha == "adaptive" or (isinstance(self.alpha, (int, float)) and 0 <= self.alpha <= 1)):
      raise ValueError(f"--alpha: must be a number in [0, 1] or 'adaptive', got {self.alpha!r}")
    if not 0 < self.lr_decay <= 1:
      raise ValueError(f"--lr_decay: must be in (0, 1], got {self.lr_decay!r}")
    if self.lr_schedule not in LR_SCHEDULES:
      raise ValueError(f"--lr_schedule: unknown schedule {self.lr_schedule!r}; valid choices: {', '.join(LR_SCHEDULES)}")
    if self.init not in INITS:
      raise ValueError(f"--init: unknown PLRNN init {self.init!r}; valid choices: {', '.join(INITS)}")
    if not self.latent_clip >= 0:
      raise ValueError(f"--latent_clip: must be >= 0 (0: off), got {self.latent_clip!r}")
    if not self.tf_noise >= 0:
      raise ValueError(f"--tf_noise: must be >= 0, got {self.tf_noise!r}")
    if not self.mar_tau >= 0:
      raise ValueError(f"--mar_tau: must be >= 0 (0: off), got {self.mar_tau!r}")
    if not 0 < self.mar_fraction <= 1:
      raise ValueError(f"--mar_fraction: must be in (0, 1], got {self.mar_fraction!r}")
    if not 0 <= self.alpha_gamma < 1:
      raise ValueError(f"--alpha_gamma: must be in [0, 1), got {self.alpha_gamma!r}")
    for name in ("hidden", "interval", "window", "batch", "steps", "alpha_every"):
      v = getattr(self, name)
      if not isinstance(v, int) or v < 1:
        raise ValueError(f"--{name}: must be a positive integer, got {v!r}")


def make_cell(config: DSRConfig) -> PLRNN:
  """The PLRNN that ``train`` fits for ``config``."""
  return PLRNN(hidden_size=config.hidden, recurrent_init=config.init, reg_fraction=config.mar_fraction,
               mean_centre=config.mean_centre, clip_range=config.latent_clip)


def init_params(config: DSRConfig, key, n_observed: int) -> dict:
  """The PLRNN's params (AWh on top when manifold-attractor regularised, or as ``config.awh`` says) with
  L (M - N, N) = 0 in place of the cell's fixed z0."""
  params = make_cell(config).init(key, 0)
  if config.mar_tau > 0 if config.awh is None else config.awh:
    params = awh(params, config.mar_fraction)
  params = {k: v for k, v in params.items() if k != "z0"}
  return {**params, "L": jnp.zeros((config.hidden - n_observed, n_observed), jnp.float32)}


def learning_rate(config: DSRConfig) -> optax.Schedule:
  """The learning rate per step of ``config.lr_schedule``."""
  if config.lr_schedule == "multistep":
    bounds = {max(int(f * config.steps), 1): 0.1 for f in (0.1, 0.8, 0.9)}
    return optax.piecewise_constant_schedule(config.lr, bounds)
  return optax.exponential_decay(config.lr, transition_steps=max(config.steps - 1, 1), decay_rate=config.lr_decay)


def train(config: DSRConfig, data: jax.Array, key) -> tuple[dict, jax.Array]:
  """Trains one seed's PLRNN (``make_cell(config)``) on ``data`` (T_data, N) by teacher forcing, with Adam,
  optional manifold-attractor regularisation and gradient clipping. Pure in ``key``: vmap it over seeds.

  Returns:
    (params, losses (steps,)).
  """
  N = data.shape[-1]
  if config.hidden < N:
    raise ValueError(f"--hidden: the latent dimension must be >= the data's ({N}), got {config.hidden}")
  if data.shape[0] <= config.window + 1:
    raise ValueError(f"--window: {config.window} does not fit in {data.shape[0]} data points")
  cell = make_cell(config)
  k_init, k_train = jax.random.split(key)
  params = init_params(config, k_init, N)
  parts = []
  if config.mar_tau > 0:
    parts.append(add_manifold_attractor_reg(config.mar_tau, fraction=config.mar_fraction))
  if config.clip > 0:
    parts.append(optax.clip_by_global_norm(config.clip))
  opt = optax.chain(*parts, optax.adam(learning_rate(config)))

  def loss(params, windows, teachers, alpha):
    per = jax.vmap(lambda w, s: forced_loss(cell, params, w, method=config.method, interval=config.interval,
                                            alpha=alpha, teacher=s))(windows, teachers)
    return jnp.mean(per)

  adaptive = config.method == "gtf" and config.alpha == "adaptive"

  def estimate(params, windows, key):
    keys = jax.random.split(key, windows.shape[0])
    return jnp.max(jax.vmap(lambda w, k: adaptive_alpha(cell, params, w, k))(windows, keys))

  def body(carry, i):
    params, opt_state, alpha = carry
    k_win, k_alpha, k_noise = jax.random.split(jax.random.fold_in(k_train, i), 3)
    starts = jax.random.randint(k_win, (config.batch,), 0, data.shape[0] - config.window - 1)
    windows = jax.vmap(lambda s: jax.lax.dynamic_slice_in_dim(data, s, config.window + 1))(starts)
    if adaptive:   # the step counter is not per seed, so this stays a branch under vmap
      alpha = jax.lax.cond(i % config.alpha_every == 0,
                           lambda: anneal_alpha(alpha, estimate(params, windows, k_alpha), config.alpha_gamma),
                           lambda: alpha)
    teachers = windows + config.tf_noise * jax.random.normal(k_noise, windows.shape) if config.tf_noise else windows
    value, grads = jax.value_and_grad(loss)(params, windows, teachers, alpha)
    updates, opt_state = opt.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state, alpha), value

  alpha0 = jnp.float32(1.0 if adaptive else config.alpha if config.method == "gtf" else 0.0)
  (params, _, _), losses = jax.lax.scan(body, (params, opt.init(params), alpha0), jnp.arange(config.steps))
  return params, losses
