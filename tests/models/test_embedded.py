"""Split-GGUF assembly: checksum, atomic write, verified note, one-line errors naming the package."""

from __future__ import annotations

import hashlib
import os

import pytest

from promptflux.errors import ConfigError
from promptflux.models import embedded
from promptflux.models.embedded import SplitGGUF, assemble_split, is_verified


def _parts(tmp_path, blobs: list[bytes]):
    paths = []
    for n, blob in enumerate(blobs, start=1):
        path = tmp_path / "parts" / f"part{n:02d}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(blob)
        paths.append(path)
    whole = b"".join(blobs)
    split = SplitGGUF(
        file_name="model.gguf",
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        module_prefix="promptflux_no_such_part",
        dist_prefix="no-such-part",
        version="1.0",
        count=len(blobs),
    )
    return split, paths


def test_parts_are_concatenated_in_order_and_verified(tmp_path):
    split, parts = _parts(tmp_path, [b"abc" * 1000, b"defg" * 777, b"h"])
    target = tmp_path / "cache" / "model.gguf"
    assert assemble_split(split, target, parts) == target
    assert target.read_bytes() == b"abc" * 1000 + b"defg" * 777 + b"h"
    assert is_verified(target, split.sha256)
    assert not target.with_name("model.gguf.partial").exists()


def test_a_verified_file_is_not_rebuilt_but_a_changed_one_is_checked_again(tmp_path):
    split, parts = _parts(tmp_path, [b"one", b"two"])
    target = tmp_path / "model.gguf"
    assemble_split(split, target, parts)
    for p in parts:
        p.unlink()  # parts gone: a verified file must not need them
    assert assemble_split(split, target, parts=[]) == target
    target.write_bytes(b"onetwX")  # same size, other content, new mtime
    os.utime(target, ns=(1, 1))
    assert not is_verified(target, split.sha256)
    with pytest.raises(ConfigError, match="SHA-256"):
        assemble_split(split, target, parts=[])


def test_a_corrupt_part_is_refused_and_leaves_no_file(tmp_path):
    split, parts = _parts(tmp_path, [b"one", b"two"])
    parts[1].write_bytes(b"twX")
    target = tmp_path / "model.gguf"
    with pytest.raises(ConfigError) as err:
        assemble_split(split, target, parts)
    message = str(err.value)
    assert "\n" not in message and "not the official" in message and "reinstall" in message
    assert not target.exists()
    assert not target.with_name("model.gguf.partial").exists()


def test_a_missing_part_package_is_named(tmp_path):
    split, _ = _parts(tmp_path, [b"one", b"two"])
    with pytest.raises(ConfigError, match=r"'no-such-part1==1.0' is not installed"):
        assemble_split(split, tmp_path / "model.gguf")


def test_too_little_disk_space_is_a_one_line_error(tmp_path, monkeypatch):
    split, parts = _parts(tmp_path, [b"one", b"two"])

    class Usage:
        free = 2

    monkeypatch.setattr(embedded.shutil, "disk_usage", lambda _: Usage)
    with pytest.raises(ConfigError, match="PROMPTFLUX_CACHE"):
        assemble_split(split, tmp_path / "model.gguf", parts)


def test_status_reads_the_disk_without_building(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTFLUX_CACHE", str(tmp_path))
    st = embedded.status("qwen2.5-coder-1.5b")
    assert not st.assembled and st.verified == "-" and not st.converted
    assert not (tmp_path / "gguf").exists()
