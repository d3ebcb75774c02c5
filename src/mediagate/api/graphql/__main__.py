"""`python -m mediagate.api.graphql [PATH]`: print the schema (SDL), or write it to PATH."""

from __future__ import annotations

import sys
from pathlib import Path

from mediagate.api.graphql import export_schema


def main(argv: list[str]) -> int:
    sdl = export_schema()
    if argv:
        Path(argv[0]).write_text(sdl, encoding="utf-8")
    else:
        sys.stdout.write(sdl)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
