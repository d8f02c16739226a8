"""The README's examples are real: its connector config validates, its commands exist."""

import json
import re
from pathlib import Path

from connectors.config import validate_config
from ops.cli import COMMANDS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_the_abridged_connector_config_validates():
    block = re.search(r"```json\n(.*?)\n```", README, re.S).group(1)
    config = json.loads(block.replace('"…secret…"', '"a-bearer-token"'))
    assert validate_config(config)[2] == []


def test_the_two_commands_open_the_readme_and_every_hub_command_is_documented():
    head = "\n".join(README.splitlines()[:10])
    assert "make run" in head and "make test" in head
    for command in COMMANDS:
        assert f"`hub {command}" in README, command
