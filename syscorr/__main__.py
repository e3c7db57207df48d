"""`python -m syscorr` runs the command-line interface."""

from syscorr.cli import main

main()
