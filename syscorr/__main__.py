"""`python -m syscorr` runs the command-line interface."""

from syscorr.cli.main import main

main()
