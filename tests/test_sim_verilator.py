"""How Verilator models are configured (no simulator needed): which signals are public,
which optimization the per-cycle C++ gets, and how that names and keys the build."""

import pytest

from sim.verilator import VerilatorConfig, top_ports

VERILOG = """module inner(a, b);
  input a;
  output b;
endmodule
module top(clk, rst, in0_tdata,
  out0_tvalid);
  input clk;
endmodule
"""


def test_top_ports_reads_the_module_header():
    assert top_ports(VERILOG, "top") == ["clk", "rst", "in0_tdata", "out0_tvalid"]
    assert top_ports(VERILOG, "inner") == ["a", "b"]
    with pytest.raises(ValueError, match="no module 'other'"):
        top_ports(VERILOG, "other")


def test_default_makes_only_the_ports_public():
    vlt = VerilatorConfig().vlt("top", ["clk", "rst"])
    assert vlt == ('`verilator_config\n'
                   'public_flat_rw -module "top" -var "clk"\n'
                   'public_flat_rw -module "top" -var "rst"\n')
    assert VerilatorConfig(public="all").vlt("top", ["clk"]).endswith('-var "*"\n')


def test_each_config_has_its_own_folder_and_key():
    configs = [VerilatorConfig(), VerilatorConfig(public="all"),
               VerilatorConfig(opt_fast="-O0"), VerilatorConfig(public="all", opt_fast="-O0")]
    assert [c.suffix for c in configs] == ["", "-publicall", "-O0", "-publicall-O0"]
    assert len({str(c.key()) for c in configs}) == 4
    assert VerilatorConfig().make_args()[0] == "OPT_FAST=-O2"
    assert "OPT_SLOW=-O0" in VerilatorConfig().make_args()
    assert VerilatorConfig(opt_fast="-O0").make_args()[0] == "OPT_FAST=-O0"


@pytest.mark.parametrize("kwargs", [{"public": "some"}, {"opt_fast": "-O9"},
                                    {"opt_fast": "-O2 -march=native"}])
def test_bad_config_is_refused(kwargs):
    with pytest.raises(ValueError):
        VerilatorConfig(**kwargs)
