"""`python -m syscorr.capture.ebpf [--force]`: build the eBPF loader and print its path."""

import sys

from syscorr.capture.ebpf.build import main

sys.exit(main())
