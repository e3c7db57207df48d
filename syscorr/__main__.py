"""`python -m syscorr` runs the command-line interface."""

from syscorr.cli.app import main

main()
