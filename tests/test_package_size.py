"""infra.package_size: the unzipped size of a sam build, and the limit check."""

from __future__ import annotations

import json

from infra.package_size import main, measure


def build_dir(tmp_path, layer_mb: float, function_mb: float):
    for name, size in (("DependenciesLayer", layer_mb), ("WebSocketFunction", function_mb), ("HttpFunction", 0.5)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "blob").write_bytes(b"x" * int(size * 1024 * 1024))
    return tmp_path


def test_the_largest_function_is_counted_with_the_layer(tmp_path):
    sizes = measure(build_dir(tmp_path, 30, 2))
    assert sizes == {"DependenciesLayer": 30.0, "HttpFunction": 0.5, "WebSocketFunction": 2.0,
                     "largest_function_with_layer": 32.0}  # fmt: skip


def test_over_the_limit_fails(tmp_path, capsys):
    assert main([str(build_dir(tmp_path, 39, 2)), "--limit-mb", "40"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["within_limit"], report["headroom_mb"]) == (False, -1.0)


def test_within_the_limit_passes(tmp_path, capsys):
    assert main([str(build_dir(tmp_path, 10, 2)), "--limit-mb", "40"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["unzipped_mb"]["largest_function_with_layer"] == 12.0
    assert report["headroom_mb"] == 28.0


def test_a_missing_build_is_a_clear_error(tmp_path, capsys):
    assert main([str(tmp_path), "--limit-mb", "40"]) == 2
    assert "run sam build first" in capsys.readouterr().err
