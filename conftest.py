"""Root pytest configuration: notebooks run in the fast ``smoke`` profile unless told otherwise."""

import os

os.environ.setdefault("ESRGAN_PROFILE", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")
