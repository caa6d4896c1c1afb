"""``python -m benchmarks [case ...] [--quick]``: run the benchmark cases."""

import sys

from .harness import main

sys.exit(main(sys.argv[1:]))
