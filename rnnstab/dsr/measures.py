"""How well a generated trajectory reproduces a true one's long-term behaviour, whatever its phase.

- ``state_space_divergence`` (D_stsp, binning): KL(p_true || p_gen) between the occupancy histograms of the
  two trajectories on a grid of ``bins`` per dimension spanning the true data's range, with Laplace
  smoothing (counts + alpha) / (n + alpha * cells). Points outside the grid are dropped.
- ``state_space_divergence_gmm`` (D_stsp, Gaussian mixtures, for more dimensions than a grid allows):
  each trajectory is a mixture of isotropic Gaussians centred on its (subsampled) points; KL by Monte
  Carlo on samples of the true mixture.
- ``power_spectrum_distance`` (D_H): per dimension, the Hellinger distance between the two normalised power
  spectra after Gaussian smoothing, averaged over dimensions.
Both trajectories are standardised with the true one's mean and standard deviation first.

References:
  Koppe, Toutounji, Kirsch, Lis & Durstewitz, PLoS CB 2019 (D_stsp); Mikhaeil, Monfared & Durstewitz,
  NeurIPS 2022 (D_H with Gaussian smoothing); Schmidt et al., ICLR 2021.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

BINS = 30
LAPLACE = 1e-5
SMOOTHING = 20.0


def _standardise(true, gen):
  true, gen = jnp.asarray(true, jnp.float32), jnp.asarray(gen, jnp.float32)
  mu, sd = jnp.mean(true, 0), jnp.std(true, 0) + 1e-12
  return (true - mu) / sd, (gen - mu) / sd


def _histogram(x, lo, hi, bins):
  d = x.shape[1]
  idx = jnp.floor((x - lo) / (hi - lo) * bins).astype(jnp.int32)
  inside = jnp.all((idx >= 0) & (idx < bins), axis=1)
  flat = jnp.zeros((), jnp.int32)
  for i in range(d):
    flat = flat * bins + jnp.clip(idx[:, i], 0, bins - 1)
  return jnp.zeros(bins ** d, jnp.float32).at[flat].add(inside.astype(jnp.float32))


def state_space_divergence(true: jax.Array, gen: jax.Array, *, bins: int = BINS, alpha: float = LAPLACE) -> jax.Array:
  """D_stsp by binning: KL(p_true || p_gen) of occupancy histograms.

  Args:
    true: (T, d) ground-truth trajectory.
    gen: (T', d) freely generated trajectory.
    bins: bins per dimension over the (standardised) true data's range (30 in the papers).
    alpha: Laplace smoothing.

  Returns:
    A scalar >= 0; ~0 for two trajectories of the same attractor.

  References:
    Koppe et al., PLoS CB 2019.
  """
  t, g = _standardise(true, gen)
  lo, hi = jnp.min(t, 0), jnp.max(t, 0) + 1e-6
  p = (_histogram(t, lo, hi, bins) + alpha)
  q = (_histogram(g, lo, hi, bins) + alpha)
  p, q = p / jnp.sum(p), q / jnp.sum(q)
  return jnp.sum(p * (jnp.log(p) - jnp.log(q)))


def _mixture_logpdf(x, centres, var):
  d = x.shape[-1]
  sq = jnp.sum(jnp.square(x[:, None, :] - centres[None]), axis=-1)
  return jax.nn.logsumexp(-0.5 * sq / var, axis=1) - math.log(centres.shape[0]) - 0.5 * d * jnp.log(2 * jnp.pi * var)


def state_space_divergence_gmm(true: jax.Array, gen: jax.Array, key, *, var: float = 1.0, centres: int = 1000,
                               samples: int = 1000) -> jax.Array:
  """D_stsp with Gaussian mixtures: Monte Carlo KL(p_true || p_gen), each a mixture of N(x_t, var I).

  Args:
    true, gen: (T, d) and (T', d) trajectories.
    key: PRNG key (the Monte Carlo samples).
    var: variance of each component, in units of the true data's standard deviation squared.
    centres: trajectory points kept as components (evenly subsampled).
    samples: Monte Carlo samples from the true mixture.

  Returns:
    A scalar estimate (can be slightly negative from sampling noise when the two agree).

  References:
    Koppe et al., PLoS CB 2019.
  """
  t, g = _standardise(true, gen)
  t = t[jnp.linspace(0, t.shape[0] - 1, min(centres, t.shape[0])).astype(jnp.int32)]
  g = g[jnp.linspace(0, g.shape[0] - 1, min(centres, g.shape[0])).astype(jnp.int32)]
  kc, kn = jax.random.split(key)
  x = t[jax.random.randint(kc, (samples,), 0, t.shape[0])] + jnp.sqrt(var) * jax.random.normal(kn, (samples, t.shape[1]))
  return jnp.mean(_mixture_logpdf(x, t, var) - _mixture_logpdf(x, g, var))


def smoothed_power_spectrum(x: jax.Array, sigma: float = SMOOTHING) -> jax.Array:
  """The power spectrum of a 1-D series (mean removed), smoothed by a Gaussian of ``sigma`` bins, summing to 1
  (all zeros for a constant series, which has no spectrum to normalise)."""
  x = x - jnp.mean(x)
  power = jnp.square(jnp.abs(jnp.fft.rfft(x)))
  half = int(4 * sigma)
  kernel = jnp.exp(-0.5 * jnp.square(jnp.arange(-half, half + 1, dtype=jnp.float32) / sigma))
  smooth = jnp.convolve(power, kernel / jnp.sum(kernel), mode="same")
  total = jnp.sum(smooth)
  return jnp.where(total > 0, smooth / jnp.where(total > 0, total, 1.0), 0.0)


def power_spectrum_distance(true: jax.Array, gen: jax.Array, *, smoothing: float = SMOOTHING) -> jax.Array:
  """D_H: mean over dimensions of the Hellinger distance between smoothed, normalised power spectra.

  Args:
    true, gen: (T, d) trajectories of the same length.
    smoothing: standard deviation (in frequency bins) of the Gaussian smoothing of each spectrum.

  Returns:
    A scalar in [0, 1]: 0 for identical spectra; a constant dimension (a model settled on a fixed point)
    shares no spectrum with anything and scores 1 there.

  References:
    Mikhaeil, Monfared & Durstewitz, NeurIPS 2022.
  """
  t, g = _standardise(true, gen)
  if t.shape != g.shape:
    raise ValueError(f"power_spectrum_distance: trajectories must have the same shape, got {t.shape} and {g.shape}")
  dists = []
  for i in range(t.shape[1]):
    p, q = smoothed_power_spectrum(t[:, i], smoothing), smoothed_power_spectrum(g[:, i], smoothing)
    dists.append(jnp.sqrt(jnp.clip(1.0 - jnp.sum(jnp.sqrt(p * q)), 0.0, 1.0)))
  return jnp.mean(jnp.stack(dists))
