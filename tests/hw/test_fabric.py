"""Every preset elaborates; Verilator lints the Verilog of tiny and small."""

import subprocess

import pytest

from hw.fabric import Fabric, switch_structure
from hw.generate import summarize, generate_verilog
from hw.interconnect import interconnect
from hw.params import load_fabric
from sim.runner import Runner, verilator_bin


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_verilator_lint_accepts_generated_verilog(preset):
    path = Runner(load_fabric(preset), "verilator").verilog()     # cached under build/
    out = subprocess.run([str(verilator_bin() / "verilator"), "--lint-only", "-Wno-fatal",
                          "-Wno-WIDTH", "--top-module", "terrazzo_fabric", str(path)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "%Error" not in out.stderr


@pytest.mark.slow
def test_plasticine_elaborates():
    p = load_fabric("plasticine")
    text, summary = generate_verilog(p)
    assert "module terrazzo_fabric(" in text
    assert summary.units == {"pcu": 64, "pmu": 64, "switch": 153, "dram": 8}
    assert summary.memory_bits >= 64 * 256 * 1024 * 8      # 256 KB per PMU, and FIFOs


def test_fabric_ports_follow_the_params():
    p = load_fabric("small")
    top = Fabric(p)
    top._MustUse__silence = True        # only its ports are looked at
    names = set(top.signature.members)
    for k in range(p.io_in):
        assert {f"in{k}_tdata", f"in{k}_tvalid", f"in{k}_tready", f"in{k}_tlast"} <= names
    for k in range(p.io_out):
        assert {f"out{k}_tdata", f"out{k}_tvalid", f"out{k}_tready", f"out{k}_tlast"} <= names
    assert {"cfg_tdata", "start", "configured", "cfg_error", "running", "done",
            "cycles"} <= names
    assert top.in0_tdata.shape().width == p.lanes * 32


def test_switches_with_one_structure_share_a_module():
    p = load_fabric("plasticine")
    shapes = {switch_structure(p, pos) for pos in interconnect(p).switches}
    assert len(shapes) < len(interconnect(p).switches) // 2


def test_summary_counts_units_and_words():
    s = summarize(load_fabric("small"))
    assert s.units == {"pcu": 8, "pmu": 8, "switch": 25}
    assert s.bitstream_words == 458
    assert "bitstream words (every unit and switch): 458" in s.to_text()


def test_inline_and_shared_fabrics_are_the_same_hardware():
    """The Amaranth back end of the fabric structure, every unit inline, has the
    flip-flops and memory the generated Verilog counts (modules x instances)."""
    from amaranth.back import rtlil
    from hw.generate import _netlist_counts
    p = load_fabric("tiny")
    inline = _netlist_counts(rtlil.convert(Fabric(p, shared=False), name="top",
                                           emit_src=False))
    _, summary = generate_verilog(p)
    assert inline == (summary.flip_flops, summary.memory_bits)
