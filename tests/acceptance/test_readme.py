"""The README's front door stays true: its SDK snippet runs against a real server."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from mediagate.media.probe import probe
from tests.acceptance.conftest import ServerProcess

README = Path(__file__).parents[2] / "README.md"


def test_readme_starts_with_the_two_commands() -> None:
    text = README.read_text()
    first_block = text.split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make run", "make test"]


def test_readme_sdk_snippet_runs(start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    server = start_server()
    key = server.new_key(test=True, plan="pro", credits=1000)
    snippet = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert snippet is not None
    code = snippet.group(1).replace("http://127.0.0.1:8000", server.url).replace("mg_test_…", key)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - the README's own snippet
    finally:
        os.chdir(cwd)
    info = probe((tmp_path / "lighthouse.mp4").read_bytes())
    assert info.format == "mp4" and info.duration == 5.0
