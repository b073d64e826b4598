"""Programs larger than the fabric: the cut into sections, the tensors between them in
DRAM, the section container and the manifest's sections."""

import json
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from compiler.bitstream import decode
from compiler.compile import compile_graph
from compiler.container import (SECTIONS_MAGIC, SECTIONS_VERSION, pack_sections,
                                unpack_sections)
from compiler.disasm import disassemble
from compiler.errors import BitstreamError, CapacityError, CompileError
from compiler.ir import Graph
from compiler.manifest import Manifest, ManifestError
from compiler.passes import pipeline
from compiler.sections import compute_nodes
from hw.params import load_fabric
from sim.golden import run_graph

from layered_graphs import chain, layered_graph

ROOT = Path(__file__).resolve().parents[2]
SMALL = load_fabric("small")
SMALL_DRAM = load_fabric(ROOT / "examples" / "fabrics" / "small-dram.toml")
PLASTICINE = load_fabric("plasticine")


@pytest.fixture(scope="module")
def chained():
    return compile_graph(chain(), SMALL_DRAM)


def test_a_graph_too_big_for_the_fabric_runs_in_sections(chained):
    r = chained
    assert len(r.sections) == 4
    assert [len(s.lowered.pcus) for s in r.sections] == [8, 8, 8, 1]
    # the sections compute every kernel once, in order
    kernels = [k.name for s in r.sections for k in s.lowered.kernels]
    assert kernels == [k.name for k in compile_graph(chain(), PLASTICINE).lowered.kernels]
    # what one section stores, the next reads, from the same words of DRAM
    for before, after in zip(r.sections, r.sections[1:]):
        stored = {n.removesuffix(".dram") for n in before.dram_out}
        assert stored == set(after.dram_in)
    temps = [s for s in r.manifest.dram if s.temp]
    assert [s.name for s in temps] == ["map6", "reduce3", "map14", "reduce7", "map22",
                                       "reduce11"]
    assert [s.address for s in temps] == [0, 1024, 2048, 3072, 4096, 5120]
    assert r.manifest.tensors_in == {"x": ((4, 16), "i32")}
    m = r.manifest
    assert m.inputs == () and m.outputs == ()
    assert [len(s.inputs) for s in m.sections] == [1, 0, 0, 0]
    assert [[o.name for o in s.outputs] for s in m.sections] == [[], [], [], ["y"]]
    assert m.ideal_cycles == sum(s.ideal_cycles for s in m.sections) == 32
    assert len(r.report["sections"]) == 4


def test_each_stored_tensor_is_stored_and_read_back_whole(chained):
    sec0, sec1 = chained.sections[:2]
    writes = {w.tensor: w for w in sec0.lowered.dram_writes.values()}
    # a [4, 16] tensor: a run of 16 words per row; a [4] reduction (a word a vector,
    # lane 0): a run of one word per vector
    assert writes["map6"].to_text() == \
        "store dram vector run=16 extents=[4] strides=[16] offset=0"
    assert writes["reduce3"].to_text() == \
        "store dram vector run=1 extents=[4] strides=[1] offset=0"
    reads = {r.tensor for r in sec1.lowered.dram_reads.values()}
    assert reads == {"map6", "reduce3"}
    # a load engine and a store engine share a DRAM unit: two units do it all
    assert all(len(s.lowered.dram_units) <= SMALL_DRAM.dram_ports for s in chained.sections)


def test_the_program_file_is_a_section_container(chained):
    bitstreams = unpack_sections(chained.bitstream)
    assert len(bitstreams) == 4
    assert [b for b in bitstreams] == [s.bitstream for s in chained.sections]
    for b in bitstreams:
        assert decode(b, SMALL_DRAM).fabric_hash32 == SMALL_DRAM.hash32
    text = disassemble(chained.bitstream, SMALL_DRAM)
    assert text.startswith("# section 0 of 4\n")
    assert text.count("# section ") == 4


def test_the_report_shows_each_section(chained):
    text = chained.report_text()
    assert "  4 sections, run one after another (tensors between them in DRAM)" in text
    assert ("  section 1: PCU 8, PMU 4, in 0, out 0, DRAM units 2; ideal cycles 8; DRAM "
            "in reduce3, map6, out map14, reduce7") in text
    assert "  DRAM: map6 [4, 16] at word 0 (between sections)" in text


def test_the_manifest_of_sections_round_trips_and_is_checked(chained):
    m = chained.manifest
    doc = json.loads(m.to_json())
    assert Manifest.from_json(m.to_json()) == m
    assert doc["inputs"] == [] and doc["outputs"] == []
    assert [d.get("temp") for d in doc["dram"]] == [True] * 6

    def refused(doc, pattern):
        with pytest.raises(ManifestError, match=pattern):
            Manifest.from_json(json.dumps(doc))

    refused(dict(doc, ideal_cycles=5), r"ideal_cycles must be 32 \(the sum of the "
                                       r"sections'\), not 5$")
    refused(dict(doc, outputs=doc["sections"][3]["outputs"]),
            r"outputs must be \[\] in a manifest with sections")
    refused(dict(doc, sections=doc["sections"][:1]), r"sections must be a list of 2 to")
    no_sections = {k: v for k, v in doc.items() if k != "sections"}
    refused(dict(no_sections, outputs=doc["sections"][3]["outputs"]),
            r"dram lists a tensor between sections, and the manifest has no sections")
    dup = json.loads(json.dumps(doc))
    dup["sections"][0]["outputs"] = dup["sections"][3]["outputs"]
    refused(dup, r"sections\[3\]\.outputs\[0\]\.name 'y' repeats "
                 r"sections\[0\]\.outputs\[0\]\.name")


def test_sections_pass_only_through_dram():
    # without DRAM units the fabric refuses what does not fit, as before
    with pytest.raises(CapacityError, match=r"^needs 25 PCUs; fabric 'small' has 8$"):
        compile_graph(chain(), SMALL)


def test_a_graph_that_fits_is_one_bitstream():
    r = compile_graph(chain(2), SMALL_DRAM)
    assert len(r.sections) == 1 and r.manifest.sections == ()
    assert unpack_sections(r.bitstream) == [r.bitstream]
    assert "sections" not in json.loads(r.manifest.to_json())


def test_the_cut_partitions_the_compute_nodes_and_keeps_their_order():
    g = layered_graph(300, seed=3)
    r = compile_graph(g, SMALL_DRAM)
    assert len(r.sections) > 3
    order, _ = compute_nodes(pipeline(g))
    assert [n for s in r.sections for n in _nodes_of(s)] == order
    for s in r.sections:
        u = s.report["utilization"]
        assert all(used <= total for used, total in u.values())


def _nodes_of(section):
    # the compute nodes a section computes: its kernels, a fold's two kernels as one
    names = []
    for k in section.lowered.kernels:
        name = k.name.removesuffix(".reduce")
        if name not in names:
            names.append(name)
    return names


def sections_golden(r, g, seed=0):
    """Section by section, with each stored tensor handed on, the golden model of the
    section graphs; checked to give the whole graph's outputs."""
    rng = np.random.default_rng(seed)
    x = {name: rng.integers(-2**31, 2**31, shape, dtype=np.int64).astype(np.int32)
         for name, (shape, _) in r.manifest.tensors_in.items()}
    memory = dict(x)
    outputs = {}
    for s in r.sections:
        got = run_graph(s.graph, {n: memory[n] for n in _graph_inputs(s.graph)})
        for name, value in got.items():
            if name.endswith(".dram"):
                memory[name.removesuffix(".dram")] = value
            else:
                outputs[name] = value
    want = run_graph(g, x)
    assert outputs.keys() == want.keys()
    for name in want:
        assert np.array_equal(outputs[name], want[name])


def test_the_golden_model_of_the_sections_is_the_graphs():
    # the cut changes no result
    g = layered_graph(120, seed=5)
    r = compile_graph(g, SMALL_DRAM)
    assert len(r.sections) > 1
    sections_golden(r, g)


def _graph_inputs(g):
    from compiler.ir import Input
    return [n for n, node in g.nodes.items() if isinstance(node, Input)]


def test_a_map_too_big_for_the_fabric_is_split_into_a_chain_of_maps():
    g = Graph("long")
    x, z = g.input("x", (16,)), g.input("z", (16,))
    v = x
    for i in range(120):
        v = (v * 3 + z) ^ i if i % 2 else v + x
    g.output("y", v)
    r = compile_graph(g, SMALL_DRAM)
    # fused into maps of 50 and 10 PCUs, each cut into pieces of at most 6 (three
    # quarters of the fabric's 8), each reading the one before
    assert len(r.sections) == 10
    assert [k.name for s in r.sections for k in s.lowered.kernels] == \
        [f"map199.part{k}" for k in range(7)] + ["map199", "map239.part0", "map239"]
    assert all(len(s.dram_in) <= 1 for s in r.sections)
    sections_golden(r, g)


def test_a_node_too_big_for_any_section_is_refused_in_one_line():
    # a reduction's fused body is not split
    g = Graph("wide")
    x = g.input("x", (16,))
    for _ in range(200):
        x = x * 3 + 1
    g.output("y", g.reduce("add", x))
    with pytest.raises(CompileError) as info:
        compile_graph(g, SMALL_DRAM)
    assert "\n" not in str(info.value)
    assert "even in a section of its own" in str(info.value)


@pytest.mark.slow
def test_a_graph_of_2000_nodes_compiles_for_plasticine_in_sections_within_a_minute():
    g = layered_graph(2000, seed=0)
    assert len(g.nodes) >= 2000
    t0 = time.process_time()
    r = compile_graph(g, PLASTICINE)
    seconds = time.process_time() - t0
    assert len(r.sections) > 1
    # a bound, not a benchmark: make bench reports the figure
    assert seconds < 60, seconds


def test_the_container_is_checked():
    a = pack_sections([compile_graph(chain(1), SMALL_DRAM).bitstream] * 2)
    assert len(unpack_sections(a)) == 2
    words = list(struct.unpack(f"<{len(a) // 4}I", a))
    assert words[:3] == [SECTIONS_MAGIC, SECTIONS_VERSION, 2]

    def with_crc(ws):
        body = struct.pack(f"<{len(ws)}I", *ws)
        return body + struct.pack("<I", zlib.crc32(body))

    def refused(data, pattern):
        with pytest.raises(BitstreamError, match=pattern):
            unpack_sections(data)

    refused(a[:-4] + bytes(4), r"CRC-32 is 0x00000000, expected 0x[0-9a-f]{8}: the file is "
                               r"corrupted$")
    refused(with_crc([SECTIONS_MAGIC, 2] + words[2:-1]),
            r"^section container version 2 is not supported \(expected 1\): compile the "
            r"program again$")
    refused(a[:8], r"ends after 2 words, inside its header")
    refused(with_crc(words[:-2]), r"its table says")
    refused(with_crc([SECTIONS_MAGIC, 1, 1, 5]), r"holds 1 sections; it must hold 2 to")
