"""bitstreams/ holds the suite exactly as the compiler builds it now."""

from pathlib import Path

import pytest

from terrazzo.suite import SUITE_FABRICS, suite_files

ROOT = Path(__file__).resolve().parents[2] / "bitstreams"


@pytest.mark.parametrize("fabric", SUITE_FABRICS)
def test_checked_in_bitstreams_are_current(fabric):
    files, _ = suite_files(fabric)
    on_disk = {str(p.relative_to(ROOT)) for p in (ROOT / fabric).iterdir()}
    assert on_disk == set(files), "bitstreams/ is stale: run `make bitstreams`"
    stale = [rel for rel, data in files.items() if (ROOT / rel).read_bytes() != data]
    assert not stale, f"stale files (run `make bitstreams`): {', '.join(stale)}"
