"""The regularised PLRNN paper's benchmarks (Schmidt et al., ICLR 2021): addition / multiplication over T,
and sequential MNIST.

    python experiments/rplrnn_paper.py --task=adding --lengths=100,200,400
    python experiments/rplrnn_paper.py --task=multiplication --configs=rplrnn,plrnn,lstm
    python experiments/rplrnn_paper.py --task=smnist --lengths=784 --steps=2000    # real digits, 1 pixel a step
                                    # (standardised as in the authors' code; --pixels=centred: [-0.5, 0.5])

Every model of --configs is trained at every T of --lengths with ``experiments/run.py``'s machinery (one run
directory each under --out, --seeds seeds in parallel, Adam 1e-3, gradient-norm clip 3 as the authors;
--lr_half_life=N decays the rate, which the authors keep constant),
finished runs under --out are reused, and killed runs, or runs of the same model with fewer steps, are
continued to --steps from their last checkpoint (so a stopped table resumes where it stopped, and the
authors' full training budget can be reached in stages), and one Markdown table reports, per model and
T, the fraction of test trials with |error| < 0.04 and the test MSE (mean +- std over seeds); for
sequential MNIST, test accuracy and cross-entropy. Models (one layer of --hidden units, linear readout):

    rplrnn  PLRNN, AWh init + manifold-attractor regularisation (tau = --tau on half of the units)
    plrnn   PLRNN, default init, no regularisation
    iplrnn  PLRNN, every unit an integrator at the start (A = I, W = 0, h = 0), no penalty: the paper's
            iPLRNN (the authors' runs of it: AWh init with per_reg = 1)
    iplrnn_half  PLRNN, AWh init on the rPLRNN's regularised half, no penalty: the rPLRNN without it
    irnn    ReLU RNN, identity init (Le et al. 2015) with input weights N(0, 1/H^2), as the authors' code
    irnn_uniform  the same with PyTorch's uniform input weights (3.6 times larger at H = 40)
    relu    vanilla ReLU RNN
    lstm    LSTM, forget-gate bias 1
    ornn    ReLU RNN, orthogonal init + soft orthogonality penalty (tau = --orth_tau)

With --progress_every=N, each model's progress follows the table: at every N-th step, the mean test
accuracy, how many seeds have passed accuracy 0.9 so far and, for addition and multiplication, how many
are below test MSE 0.01 (results.LEFT_CHANCE) at that step and at any step so far; then each seed's
final and best accuracy. What has run, with the commands and tables: docs/rplrnn.md.
"""
from __future__ import annotations

from absl import app, flags

from rnnstab import experiment, results
from rnnstab.config import Config, flags_parser

# The time loop each model trains fastest with on CPU (docs/rplrnn.md, section 1): "remat" runs the
# PLRNN's and the LSTM's own loops, which save only the states instead of many per-step residuals, while
# a ReLU RNN's backward needs the output of its one matmul, so recomputing it costs more than it saves.
_FAST = {"plrnn": "remat", "lstm": "remat", "relu": "scan"}
MODELS = {
    # The authors' mean-reduced penalty, spelled out so a run directory says which form it trained with.
    "rplrnn": lambda: dict(cell="plrnn", init="awh", reg=f"mar:tau={FLAGS.tau},reduce=mean"),
    "plrnn": lambda: dict(cell="plrnn"),
    "iplrnn": lambda: dict(cell="plrnn", init="identity"),
    "iplrnn_half": lambda: dict(cell="plrnn", init="awh"),
    "irnn": lambda: dict(cell="relu", init="irnn"),
    "irnn_uniform": lambda: dict(cell="relu", init="identity"),
    "relu": lambda: dict(cell="relu"),
    "lstm": lambda: dict(cell="lstm", init="forget_bias"),
    "ornn": lambda: dict(cell="relu", init="orthogonal", reg=f"orth:tau={FLAGS.orth_tau}"),
}

flags.DEFINE_enum("task", "adding", ["adding", "multiplication", "smnist"], "the problem")
flags.DEFINE_string("lengths", "100,200,400", "comma-separated sequence lengths T")
# The paper's Figure 2 models; the _half and _uniform variants are this project's ablations.
PAPER = ("rplrnn", "plrnn", "iplrnn", "irnn", "relu", "lstm", "ornn")
flags.DEFINE_string("configs", ",".join(PAPER), f"comma-separated models: {', '.join(MODELS)}")
flags.DEFINE_integer("seeds", 16, "seeds per model and T")
flags.DEFINE_integer("hidden", 40, "units (M = 40 in the paper)")
flags.DEFINE_integer("batch", 64, "training batch per seed")
# The authors train 40,000 steps of batch 500 (20M sequences); 10,000 of batch 64 fit 2 cores (docs/rplrnn.md).
flags.DEFINE_integer("steps", 10000, "training steps")
flags.DEFINE_integer("lr_half_life", 0, "steps in which the learning rate halves (0: the authors' constant 1e-3)")
flags.DEFINE_float("tau", 5.0, "manifold-attractor regularisation strength of rplrnn")
flags.DEFINE_float("orth_tau", 0.1, "orthogonality penalty of ornn")
flags.DEFINE_string("backend", "auto", "time loop (run.py's --backend); auto: on CPU each model's fastest, "
                    "remat for the PLRNNs and the LSTM, scan for the ReLU RNNs")
flags.DEFINE_enum("pixels", "standardised", ["standardised", "centred"], "sequential MNIST's pixel scaling: "
                  "standardised (zero mean, unit std: the authors' code) or centred ([-0.5, 0.5])")
flags.DEFINE_string("out", "runs/rplrnn_paper", "parent directory of the run directories")
# The authors evaluate once an epoch (200 steps of batch 500); a seed's best accuracy counts the evaluations.
flags.DEFINE_integer("log_every", 0, "steps between test evaluations (0: a tenth of --steps)")
flags.DEFINE_integer("progress_every", 0, "after the table, also print each model's progress over training at "
                     "the evaluations every this many steps, and each seed's final and best accuracy (0: not)")
FLAGS = flags.FLAGS


def _configs() -> list[tuple[str, int, Config]]:
  """Every (model, T, Config), validated before any work starts."""
  unknown = [m for m in FLAGS.configs.split(",") if m not in MODELS]
  if unknown:
    raise ValueError(f"--configs: unknown model {unknown[0]!r}; valid choices: {', '.join(MODELS)}")
  try:
    lengths = [int(t) for t in FLAGS.lengths.split(",")]
  except ValueError:
    raise ValueError(f"--lengths: must be comma-separated integers, got {FLAGS.lengths!r}") from None
  if FLAGS.progress_every < 0:
    raise ValueError(f"--progress_every: must be 0 (off) or a number of steps, got {FLAGS.progress_every}")
  if FLAGS.log_every < 0:
    raise ValueError(f"--log_every: must be 0 (a tenth of --steps) or a number of steps, got {FLAGS.log_every}")
  if FLAGS.task == "smnist" and lengths != [784]:
    raise ValueError(f"--lengths: sequential MNIST has T = 784 (one pixel a step), got {FLAGS.lengths!r}")
  if FLAGS["pixels"].present and FLAGS.task != "smnist":
    raise ValueError(f"--pixels: only for --task=smnist, got --task={FLAGS.task}")
  return [(m, T, Config(task=_task(), seq_len=T, layers=1, hidden=FLAGS.hidden, seeds=FLAGS.seeds,
                        batch=FLAGS.batch, steps=FLAGS.steps, lr=1e-3,
                        lr_half_life=FLAGS.lr_half_life, clip=3.0,
                        log_every=FLAGS.log_every or max(FLAGS.steps // 10, 1), analysis_every=0,
                        backend=_backend(MODELS[m]()["cell"]), **MODELS[m]()))
          for m in FLAGS.configs.split(",") for T in lengths]


def _task() -> str:
  """The --task spec of the runs; sequential MNIST's centred pixels are the task's default, so spelled plainly."""
  if FLAGS.task == "smnist" and FLAGS.pixels != "centred":
    return f"smnist:pixels={FLAGS.pixels}"
  return FLAGS.task


def _backend(cell: str) -> str:
  """--backend=auto unless set: the kernels on GPU/TPU; on CPU, the cell's fastest time loop."""
  if FLAGS.backend != "auto":
    return FLAGS.backend
  import jax
  return _FAST[cell] if jax.default_backend() == "cpu" else "auto"


def sweep() -> None:
  """Claim: the rPLRNN keeps solving the problems at T where LSTM, iRNN and the plain PLRNN fail."""
  configs = _configs()
  loss = "ce" if FLAGS.task == "smnist" else "mse"
  what = (f"pixels {FLAGS.pixels}; accuracy = test digits classified right" if FLAGS.task == "smnist" else
          "accuracy = fraction of test trials with |error| < 0.04")
  decay = f" halving every {FLAGS.lr_half_life} steps" if FLAGS.lr_half_life else ""
  print(f"{FLAGS.task}, one layer of {FLAGS.hidden}, Adam 1e-3{decay}, clip 3, batch {FLAGS.batch}, {FLAGS.steps} steps, "
        f"{FLAGS.seeds} seeds; {what}")
  print("(final: at the last step; best: each seed's best evaluation, as the paper's figures report)")
  print(f"| model | T | test accuracy | best accuracy | test {'cross-entropy' if loss == 'ce' else 'MSE'} "
        "| seeds with accuracy >= 0.9 | train time |")
  print("|---|---|---|---|---|---|---|")
  progress = []
  for model, T, config in configs:
    summary = _train(config)
    acc, mse = summary["final"]["eval_accuracy"], summary["final"][f"eval_{loss}"]
    rows = results.read_metrics(f"{summary['run_dir']}/metrics.jsonl")
    solved = results.steps_to_solve(rows, "accuracy", config.seeds)
    healthy = f" ({acc['n']} healthy)" if acc["n"] < config.seeds else ""
    print(f"| {model} | {T} | {results.format_mean_std(acc)}{healthy} | {_best(rows)} | {results.format_mean_std(mse)} | "
          f"{len(solved)}/{config.seeds} | {summary['timing']['train_s']:.0f} s |", flush=True)
    progress.append((f"{model}, T = {T}", rows, config.seeds, summary.get("chance")))
  if FLAGS.progress_every:
    for title, rows, seeds, chance in progress:
      print("\n" + "\n".join(results.progress_table(title, rows, seeds, FLAGS.progress_every,
                                                    chance if loss == "mse" else None)))


def _train(config: Config) -> dict:
  """The summary of ``config``'s run under --out: a finished one reused; a killed one, or one with fewer
  steps, continued to --steps from its last checkpoint; else a new one. (Runs differing only in how often
  they evaluate count as the same: a continued run keeps the evaluation interval it started with.)"""
  summary = results.finished_summary(FLAGS.out, config, ignore=results.PACING)
  if summary is not None:
    return summary
  stopped = results.run_to_continue(FLAGS.out, config)
  if stopped is not None:
    return experiment.resume(stopped, steps=config.steps, log=lambda s: None)
  return experiment.run(config, out=FLAGS.out, log=lambda s: None)


def _best(rows: list[dict]) -> str:
  """mean +- std over seeds of each seed's best logged test accuracy (its training evaluations)."""
  best = results.best_accuracy(rows)
  return results.pm(list(best.values())) if best else "-"


def main(argv):
  del argv
  experiment.study_main("rplrnn_paper.py", sweep)


if __name__ == "__main__":
  app.run(main, flags_parser=flags_parser("rplrnn_paper.py"))
