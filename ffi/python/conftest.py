"""pytest setup of the Python bindings test.

`scripts/test-bindings.sh` generates `reclora.py` next to a copy of the host
`libreclora_ffi.so` in $RECLORA_PYTHON_BINDINGS and writes the fixture (tiny bundle and
the Rust reference results) into $RECLORA_FIXTURE.
"""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.environ["RECLORA_PYTHON_BINDINGS"])


class Expected:
    """The fixture's expected.txt: the scenario's inputs and the Rust results."""

    def __init__(self, root: Path):
        import reclora

        self.root = root
        self.bundle = root / "bundle"
        self.corrupt_bundle = root / "corrupt-bundle"
        lines = {}
        for line in (root / "expected.txt").read_text().splitlines():
            if line and not line.startswith("#"):
                key, *values = line.split(" ")
                lines[key] = values
        self.threads = int(lines["threads"][0])
        self.profile = dict(field.split("=", 1) for field in lines["profile"])
        self.events = []
        for text in lines["events"]:
            item, feedback, time = text.split(":")
            if feedback == "like":
                parsed = reclora.Feedback.LIKE()
            elif feedback == "dislike":
                parsed = reclora.Feedback.DISLIKE()
            else:
                parsed = reclora.Feedback.RATING(stars=int(feedback))
            self.events.append(
                reclora.UserEvent(item_id=int(item), feedback=parsed, timestamp_seconds=int(time))
            )
        self.candidates = [int(c) for c in lines["candidates"]]
        self.scores = [float(s) for s in lines["scores"]]
        self.top3 = [(int(t.split(":")[0]), float(t.split(":")[1])) for t in lines["top3"]]
        self.unknown_item = int(lines["unknown_item"][0])


@pytest.fixture(scope="session")
def expected() -> Expected:
    return Expected(Path(os.environ["RECLORA_FIXTURE"]))
