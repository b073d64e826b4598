import tomllib

import pytest

from hw.params import OPTIONAL, FabricParams, ParamsError, PRESETS, load_fabric


@pytest.mark.parametrize("name", PRESETS)
def test_presets_round_trip_through_toml(tmp_path, name):
    p = load_fabric(name)
    p.save(tmp_path / "f.toml")
    q = FabricParams.load(tmp_path / "f.toml")
    assert q == p and q.hash == p.hash


def test_plasticine_is_the_isca_design_point():
    p = load_fabric("plasticine")
    assert (p.rows * p.cols, p.lanes, p.stages) == (128, 16, 6)
    assert p.pmu_words * 4 == 256 * 1024


def test_hash_ignores_the_name_only():
    p = load_fabric("small")
    assert p.replace(name="other").hash == p.hash
    assert p.replace(lanes=4).hash != p.hash


@pytest.mark.parametrize("changes,message", [
    ({"lanes": 6}, "lanes must be a power of two no larger than 64, not 6"),
    ({"stages": 0}, "stages must be an integer in [1, 16], not 0"),
    ({"word": 16}, "word must be 32 (the only word width built), not 16"),
    ({"io_in": 9}, "io_in must be at most rows + 1 = 5, not 9"),
    ({"pmu_depth": 100}, "pmu_depth must be a power of two, not 100"),
    ({"op_groups": ("int", "fp32")}, "op_groups must list 'int' and optionally 'fp' (known "
                                     "groups: 'int', 'fp'), each once, not ('int', 'fp32')"),
    ({"op_groups": ("fp",)}, "op_groups must list 'int' and optionally 'fp' (known "
                             "groups: 'int', 'fp'), each once, not ('fp',)"),
    ({"op_groups": ("int", "int")}, "op_groups must list 'int' and optionally 'fp' (known "
                                    "groups: 'int', 'fp'), each once, not ('int', 'int')"),
    ({"rows": "4"}, "rows must be an integer in [1, 64], not '4'"),
    ({"lanes": True}, "lanes must be a power of two no larger than 64, not True"),
    ({"rows": True}, "rows must be an integer in [1, 64], not True"),
    ({"word": 32.0}, "word must be 32 (the only word width built), not 32.0"),
    ({"name": "a\x1b[2J"}, "name must be a non-empty string of printable characters, "
                           "not 'a\\x1b[2J'"),
])
def test_bad_parameters_quote_the_value(changes, message):
    with pytest.raises(ParamsError) as info:
        load_fabric("small").replace(**changes)
    assert str(info.value) == message


def test_unknown_fabric_and_bad_toml(tmp_path):
    with pytest.raises(ParamsError, match="unknown fabric 'huge'"):
        load_fabric("huge")
    (tmp_path / "bad.toml").write_text("lanes = [")
    with pytest.raises(ParamsError, match="invalid TOML"):
        load_fabric(tmp_path / "bad.toml")


def test_a_description_names_every_parameter_but_the_optional_ones():
    d = load_fabric("tiny").as_dict()
    for optional in OPTIONAL:
        del d[optional]
    assert FabricParams.from_dict(d) == load_fabric("tiny").replace(name="custom")
    del d["io_out"]
    with pytest.raises(ParamsError) as info:
        FabricParams.from_dict(d, source="f.toml")
    assert str(info.value) == ("f.toml: missing parameter io_out (a fabric file gives every "
                               "parameter but name, word, op_groups, dram_ports, dram_beat, "
                               "dram_burst and dram_outstanding)")


def test_dram_parameters_enter_the_hash_only_with_dram_ports():
    tiny = load_fabric("tiny")
    assert tiny.replace(dram_beat=2, dram_burst=8).hash == tiny.hash
    assert "dram" not in tiny.to_toml()
    with_dram = tiny.replace(dram_ports=2)
    assert with_dram.hash != tiny.hash
    assert with_dram.replace(dram_burst=8).hash != with_dram.hash
    assert FabricParams.from_dict(tomllib.loads(with_dram.to_toml())) == with_dram


@pytest.mark.parametrize("change, message", [
    ({"dram_ports": 17}, "dram_ports must be an integer in [0, 16], not 17"),
    ({"dram_ports": 1, "dram_beat": 8}, "dram_beat must be at most lanes = 4, not 8"),
    ({"dram_beat": 3}, "dram_beat must be a power of two no larger than 32, not 3"),
    ({"dram_beat": 64}, "dram_beat must be a power of two no larger than 32, not 64"),
    ({"dram_burst": 0}, "dram_burst must be an integer in [1, 256], not 0"),
    ({"dram_outstanding": 17}, "dram_outstanding must be an integer in [1, 16], not 17"),
])
def test_bad_dram_parameters_are_refused(change, message):
    with pytest.raises(ParamsError) as info:
        load_fabric("tiny").replace(**change)
    assert str(info.value) == message


def test_a_bad_value_in_a_file_names_the_file(tmp_path):
    text = load_fabric("tiny").to_toml().replace("lanes = 4", "lanes = true")
    (tmp_path / "f.toml").write_text(text)
    with pytest.raises(ParamsError) as info:
        load_fabric(tmp_path / "f.toml")
    assert str(info.value) == (f"{tmp_path / 'f.toml'}: lanes must be a power of two no "
                               f"larger than 64, not True")
