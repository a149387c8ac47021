"""Real data that ships inside installed packages (never downloaded at run time)."""
from rnnstab.data.mnist import MNIST_INSTALL, load_mnist, mnist_available

__all__ = ["MNIST_INSTALL", "load_mnist", "mnist_available"]
