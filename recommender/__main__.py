"""`python -m recommender` is the `alsosee` command."""

from .cli import main

main()
