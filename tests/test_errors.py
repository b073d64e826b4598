"""Every user-facing error of every layer derives from one base class."""

import pytest

from hw.errors import TerrazzoError
from hw.params import ParamsError, load_fabric
from compiler.errors import BitstreamError, CompileError
from compiler.manifest import ManifestError
from sim.execute import RunError
from sim.golden import InputError
from sim.runner import SimulationError
from terrazzo.cli import CliError, main


@pytest.mark.parametrize("cls", [ParamsError, CompileError, BitstreamError, ManifestError,
                                 RunError, InputError, SimulationError, CliError])
def test_error_derives_from_the_base(cls):
    assert issubclass(cls, TerrazzoError)


def test_one_except_catches_a_params_error():
    with pytest.raises(TerrazzoError, match="nope"):
        load_fabric("nope")


def test_cli_prints_any_project_error_as_one_line(capsys, tmp_path):
    bad = tmp_path / "bad.tzb"
    bad.write_bytes(b"\0" * 8)
    assert main(["disasm", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("terrazzo: error: ") and err.count("\n") == 1
