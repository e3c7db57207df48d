"""`python -m syscorr.capture.dtrace`: print the path of syscorr's D script."""

from syscorr.capture.dtrace import SCRIPT

print(SCRIPT)
