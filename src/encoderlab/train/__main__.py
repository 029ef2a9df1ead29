"""``python -m encoderlab.train`` (and ``torchrun ... -m encoderlab.train``): see :mod:`encoderlab.train.cli`."""

import sys

from .cli import main

if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
