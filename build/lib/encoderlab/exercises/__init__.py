"""Check functions for the book's exercises, one module per chapter (``encoderlab.exercises.norm`` for Chapter 1, ...).

Every check runs the reader's answer on fresh random inputs, compares it with a reference, and either prints
a one-line confirmation or raises :class:`ExerciseError` (an ``AssertionError``) whose message says *what* is
wrong -- a wrong shape, a statistic pooled over the wrong axes, an off-by-one -- not just that it is wrong.
"""

from ._common import ExerciseError

__all__ = ["ExerciseError"]
