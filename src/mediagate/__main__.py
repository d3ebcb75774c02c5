"""`python -m mediagate …` is the `mediagate` command."""

from mediagate.cli import main

main()
