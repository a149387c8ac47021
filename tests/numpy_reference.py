"""Plain NumPy implementations of each cell's equations, written from the papers, in float64."""
import numpy as np


def sigmoid(z):
  return 1.0 / (1.0 + np.exp(-z))


def tanh_rnn(p, h, x):
  h = np.tanh(x @ p["U"] + h @ p["W"] + p["b"])
  return h, h


def relu_rnn(p, h, x):
  h = np.maximum(0.0, x @ p["U"] + h @ p["W"] + p["b"])
  return h, h


def gru(p, h, x):
  r = sigmoid(x @ p["U_r"] + p["b_r"] + h @ p["W_r"])
  z = sigmoid(x @ p["U_z"] + p["b_z"] + h @ p["W_z"])
  n = np.tanh(x @ p["U_n"] + p["b_n"] + r * (h @ p["W_n"] + p["b_hn"]))
  h = (1 - z) * n + z * h
  return h, h


def ncgru(p, h, x, negative_fraction=0.5):
  """Mucllari et al.: n = modReLU(x U_n + b_n + (r h) W, b_m), W = (I + A)^-1 (I - A) D, A = (K - K^T) / 2,
  D = diag(-1 for the first round(fraction H) units, +1 after); h' = z h + (1 - z) n."""
  H = h.shape[-1]
  A = 0.5 * (p["A"] - p["A"].T)
  D = np.where(np.arange(H) < round(negative_fraction * H), -1.0, 1.0)
  W = np.linalg.inv(np.eye(H) + A) @ (np.eye(H) - A) @ np.diag(D)
  r = sigmoid(x @ p["U_r"] + p["b_r"] + h @ p["W_r"])
  z = sigmoid(x @ p["U_z"] + p["b_z"] + h @ p["W_z"])
  pre = x @ p["U_n"] + p["b_n"] + (r * h) @ W
  n = np.sign(pre) * np.maximum(np.abs(pre) + p["b_m"], 0.0)
  h = z * h + (1 - z) * n
  return h, h


def gatel0rd(p, state, x):
  """Gumbsch et al. 2021, deterministic (no gate noise): Lambda = max(0, tanh(g)), h' = Lambda tanh(r) +
  (1 - Lambda) h, y = tanh(p(x, h')) sigmoid(o(x, h'))."""
  h = state["h"]
  lam = np.maximum(0.0, np.tanh(x @ p["U_g"] + h @ p["W_g"] + p["b_g"]))
  h = lam * np.tanh(x @ p["U_r"] + h @ p["W_r"] + p["b_r"]) + (1 - lam) * h
  y = np.tanh(x @ p["U_p"] + h @ p["W_p"] + p["b_p"]) * sigmoid(x @ p["U_o"] + h @ p["W_o"] + p["b_o"])
  return {"h": h, "y": y}, y


def lstm(p, state, x):
  h, c = state["h"], state["c"]
  gate = lambda g: x @ p[f"U_{g}"] + h @ p[f"W_{g}"] + p[f"b_{g}"]
  i, f, g, o = sigmoid(gate("i")), sigmoid(gate("f")), np.tanh(gate("g")), sigmoid(gate("o"))
  c = f * c + i * g
  h = o * np.tanh(c)
  return {"h": h, "c": c}, h


def mgu(p, h, x):
  f = sigmoid(x @ p["U_f"] + h @ p["W_f"] + p["b_f"])
  n = np.tanh(x @ p["U_n"] + (f * h) @ p["W_n"] + p["b_n"])
  h = (1 - f) * h + f * n
  return h, h


def brc(p, h, x):
  c = sigmoid(x @ p["U_c"] + p["w_c"] * h + p["b_c"])
  a = 1 + np.tanh(x @ p["U_a"] + p["w_a"] * h + p["b_a"])
  h = c * h + (1 - c) * np.tanh(x @ p["U_h"] + a * h + p["b_h"])
  return h, h


def nbrc(p, h, x):
  c = sigmoid(x @ p["U_c"] + h @ p["W_c"] + p["b_c"])
  a = 1 + np.tanh(x @ p["U_a"] + h @ p["W_a"] + p["b_a"])
  h = c * h + (1 - c) * np.tanh(x @ p["U_h"] + a * h + p["b_h"])
  return h, h


def plrnn(p, z, s, mean_centre=False, clip_range=0.0):
  """z_t = A z_{t-1} + W relu(z_{t-1}) + h + C s_t in the paper's orientation (W_ij: from j to i); with
  mean_centre, relu(z - mean(z)) (the mean-centred PLRNN); with clip_range c > 0, clipped to [-c, c]."""
  A = np.diag(np.asarray(p["A"], np.float64))
  W_paper = np.asarray(p["W"], np.float64).T.copy()
  np.fill_diagonal(W_paper, 0.0)
  C_paper = np.asarray(p["C"], np.float64).T
  act = z - z.mean(axis=-1, keepdims=True) if mean_centre else z
  z = (A @ z.T + W_paper @ np.maximum(act, 0).T + p["h"][:, None] + C_paper @ s.T).T
  if clip_range > 0:
    z = np.clip(z, -clip_range, clip_range)
  return z, z


def alif(p, state, x, tau_m=20.0, tau_a=200.0, b0=0.01, beta=1.8, width=None, normalised_adaptation=False):
  """Bellec et al. 2018/2020: v' = alpha v + x U + z W + b - z (b0 + beta a); a' = rho a + z;
  z' = 1[v' > b0 + beta a'] (W without self-connections). Without "z" in ``state`` (the LSC authors'
  form) z is recomputed as 1[v > b0 + beta a]; normalised adaptation: a' = rho a + (1 - rho) z."""
  alpha, rho = np.exp(-1 / tau_m), np.exp(-1 / tau_a)
  v, a = state["v"], state["a"]
  z = state["z"] if "z" in state else (v > b0 + beta * a).astype(np.float64)
  W = p["W"] * (1 - np.eye(p["W"].shape[0]))
  v = alpha * v + x @ p["U"] + z @ W + p["b"] - z * (b0 + beta * a)
  a = rho * a + ((1 - rho) * z if normalised_adaptation else z)
  z = (v > b0 + beta * a).astype(np.float64)
  return ({"v": v, "a": a, "z": z} if "z" in state else {"v": v, "a": a}), z


def lru(p, state, u):
  """Orvieto et al. 2023 in complex arithmetic: x' = lambda x + gamma (u B); y = Re(x' C) + u D."""
  lam = np.exp(-np.exp(p["nu_log"]) + 1j * np.exp(p["theta_log"]))
  x = state["re"] + 1j * state["im"]
  B = p["B_re"] + 1j * p["B_im"]
  C = p["C_re"] + 1j * p["C_im"]
  x = lam * x + np.exp(p["gamma_log"]) * (u @ B)
  y = (x @ C).real + u @ p["D"]
  return {"re": x.real, "im": x.imag, "y": y}, y


def esn(p, h, x, leak=1.0):
  """Jaeger 2001, leaky (Lukosevicius 2012): h' = (1 - a) h + a tanh(x U + h W + b)."""
  h = (1 - leak) * h + leak * np.tanh(x @ p["U"] + h @ p["W"] + p["b"])
  return h, h


def stpn(p, state, x, f_max=1.0):
  """Rodriguez et al. 2022: G = W + F; h' = tanh([x; h] G + b); F' = clip(lambda F + gamma [x; h] outer h')."""
  h = state["h"]
  pre = np.concatenate([x, h], axis=-1)
  G = np.concatenate([p["U"], p["W"]])[None] + np.concatenate([state["F_U"], state["F_W"]], axis=1)
  h_new = np.tanh(np.einsum("bk,bkh->bh", pre, G) + p["b"])
  lam, gam = np.concatenate([p["lambda_U"], p["lambda_W"]]), np.concatenate([p["gamma_U"], p["gamma_W"]])
  F = np.clip(lam * np.concatenate([state["F_U"], state["F_W"]], axis=1)
              + gam * np.einsum("bk,bh->bkh", pre, h_new), -f_max, f_max)
  D = x.shape[-1]
  return {"h": h_new, "F_U": F[:, :D], "F_W": F[:, D:]}, h_new


def srgru(p, h, x, temperature=1.0):
  """Wang & Niepert 2019 over a GRU: u = GRU(x, h); alpha = softmax(u S / T); h' = sum_i alpha_i s_i."""
  u, _ = gru(p["base"], h, x)
  scores = u @ p["S"] / temperature
  alpha = np.exp(scores - scores.max(-1, keepdims=True))
  alpha /= alpha.sum(-1, keepdims=True)
  h = alpha @ p["S"].T
  return h, h
