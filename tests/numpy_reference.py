"""Plain NumPy implementations of each cell's equations, written from the papers, for reference tests.

Deliberately unfused: one matrix per gate, sliced out of the fused kernels, in float64.
"""
import numpy as np


def sigmoid(z):
  return 1.0 / (1.0 + np.exp(-z))


def blocks(a, k):
  return np.split(np.asarray(a, np.float64), k, axis=-1)


def tanh_rnn(p, h, x):
  h = np.tanh(x @ p["U"] + h @ p["W"] + p["b"])
  return h, h


def relu_rnn(p, h, x):
  h = np.maximum(0.0, x @ p["U"] + h @ p["W"] + p["b"])
  return h, h


def gru(p, h, x):
  Ur, Uz, Un = blocks(p["U"], 3)
  Wr, Wz, Wn = blocks(p["W"], 3)
  br, bz, bn = blocks(p["b"], 3)
  r = sigmoid(x @ Ur + br + h @ Wr)
  z = sigmoid(x @ Uz + bz + h @ Wz)
  n = np.tanh(x @ Un + bn + r * (h @ Wn + p["b_hn"]))
  h = (1 - z) * n + z * h
  return h, h


def lstm(p, state, x):
  h, c = state["h"], state["c"]
  Ui, Uf, Ug, Uo = blocks(p["U"], 4)
  Wi, Wf, Wg, Wo = blocks(p["W"], 4)
  bi, bf, bg, bo = blocks(p["b"], 4)
  i = sigmoid(x @ Ui + h @ Wi + bi)
  f = sigmoid(x @ Uf + h @ Wf + bf)
  g = np.tanh(x @ Ug + h @ Wg + bg)
  o = sigmoid(x @ Uo + h @ Wo + bo)
  c = f * c + i * g
  h = o * np.tanh(c)
  return {"h": h, "c": c}, h


def mgu(p, h, x):
  Uf, Un = blocks(p["U"], 2)
  Wf, Wn = blocks(p["W"], 2)
  bf, bn = blocks(p["b"], 2)
  f = sigmoid(x @ Uf + h @ Wf + bf)
  n = np.tanh(x @ Un + (f * h) @ Wn + bn)
  h = (1 - f) * h + f * n
  return h, h


def brc(p, h, x):
  Uc, Ua, Uh = blocks(p["U"], 3)
  bc, ba, bh = blocks(p["b"], 3)
  c = sigmoid(x @ Uc + p["w_c"] * h + bc)
  a = 1 + np.tanh(x @ Ua + p["w_a"] * h + ba)
  h = c * h + (1 - c) * np.tanh(x @ Uh + a * h + bh)
  return h, h


def nbrc(p, h, x):
  Uc, Ua, Uh = blocks(p["U"], 3)
  Wc, Wa = blocks(p["W"], 2)
  bc, ba, bh = blocks(p["b"], 3)
  c = sigmoid(x @ Uc + h @ Wc + bc)
  a = 1 + np.tanh(x @ Ua + h @ Wa + ba)
  h = c * h + (1 - c) * np.tanh(x @ Uh + a * h + bh)
  return h, h


def plrnn(p, z, s):
  """z_t = A z_{t-1} + W relu(z_{t-1}) + h + C s_t in the paper's orientation (W_ij: from j to i)."""
  A = np.diag(np.asarray(p["A"], np.float64))
  W_paper = np.asarray(p["W"], np.float64).T.copy()
  np.fill_diagonal(W_paper, 0.0)
  C_paper = np.asarray(p["C"], np.float64).T
  z = (A @ z.T + W_paper @ np.maximum(z, 0).T + p["h"][:, None] + C_paper @ s.T).T
  return z, z
