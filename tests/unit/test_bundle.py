"""Bundle validation: what a zip must be before Turnout keeps it."""

from __future__ import annotations

import pytest

from tests.support import make_zip
from turnout.build.bundle import BundleLimits, inspect_bundle, parse_requirements
from turnout.errors import BundleTooLarge, HandlerNotFound, InvalidBundle

LIMITS = BundleLimits(max_zipped_bytes=1_000_000, max_unpacked_bytes=5_000_000, max_files=50, max_ratio=100)


def test_manifest_lists_every_file_with_its_hash_and_the_dependencies() -> None:
    manifest = inspect_bundle(
        make_zip({"app.py": "x = 1\n", "lib/util.py": "", "requirements.txt": "attrs==23.2.0\n# c\n"}), LIMITS
    )
    assert set(manifest.files) == {"app.py", "lib/util.py", "requirements.txt"}
    assert manifest.dependencies == ("attrs==23.2.0",)
    assert manifest.unpacked_bytes == len("x = 1\n") + len("attrs==23.2.0\n# c\n")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"PK\x03\x04 definitely not a zip", "not a valid zip"),
        (make_zip({}), "no files"),
    ],
)
def test_malformed_or_empty_zips_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(InvalidBundle, match=message):
        inspect_bundle(data, LIMITS)


@pytest.mark.parametrize(
    "name", ["../evil.py", "a/../../evil.py", "/etc/passwd", "C:/windows.py", "..\\x.py"]
)
def test_entries_escaping_the_bundle_root_are_refused(name: str) -> None:
    with pytest.raises(InvalidBundle) as info:
        inspect_bundle(make_zip({"app.py": "", name: "x"}), LIMITS)
    assert info.value.code == "InvalidBundle"


def test_symlinks_are_refused() -> None:
    with pytest.raises(InvalidBundle, match="symbolic link"):
        inspect_bundle(make_zip({"app.py": ""}, symlinks={"link": "/etc/passwd"}), LIMITS)


def test_bundles_over_the_zipped_limit_are_refused() -> None:
    small = BundleLimits(max_zipped_bytes=100, max_unpacked_bytes=10**9, max_files=50, max_ratio=100)
    with pytest.raises(BundleTooLarge):
        inspect_bundle(make_zip({"app.py": "x" * 50, "b.bin": bytes(range(256)) * 4}), small)


def test_bundles_over_the_unpacked_limit_are_refused() -> None:
    big = make_zip({"app.py": "", "data.bin": b"\0" * 2_000_000})
    tight = BundleLimits(max_zipped_bytes=10**9, max_unpacked_bytes=1_000_000, max_files=50, max_ratio=10**6)
    with pytest.raises(BundleTooLarge) as info:
        inspect_bundle(big, tight)
    assert info.value.status == 413


def test_a_zip_whose_headers_understate_sizes_is_refused() -> None:
    honest = make_zip({"app.py": "", "data.bin": b"\0" * 2_000_000})
    with pytest.raises(InvalidBundle):
        inspect_bundle(_understate_sizes(honest), LIMITS)


def test_extreme_compression_ratio_is_refused_as_a_zip_bomb() -> None:
    bomb = make_zip({"app.py": "", "zeros.bin": b"\0" * 4_000_000})
    with pytest.raises(InvalidBundle, match="zip bomb"):
        inspect_bundle(bomb, LIMITS)


def test_too_many_files_are_refused() -> None:
    with pytest.raises(BundleTooLarge, match="files"):
        inspect_bundle(make_zip({f"f{i}.py": "" for i in range(51)}), LIMITS)


def test_missing_handler_module_is_reported_with_the_file_it_needs() -> None:
    manifest = inspect_bundle(make_zip({"app.py": "", "pkg/__init__.py": "", "pkg/mod.py": ""}), LIMITS)
    manifest.check_handler("app.handler")
    manifest.check_handler("pkg.mod.handler")
    manifest.check_handler("pkg.main")  # pkg/__init__.py
    with pytest.raises(HandlerNotFound, match="main.py") as info:
        manifest.check_handler("main.handler")
    assert info.value.code == "Function.HandlerNotFound"


def test_requirements_with_options_or_garbage_are_refused() -> None:
    assert parse_requirements("requests>=2 ; python_version>'3.8'\n") == (
        "requests>=2 ; python_version>'3.8'",
    )
    with pytest.raises(InvalidBundle, match="line 2"):
        parse_requirements("attrs\n--index-url http://example.invalid/simple\n")
    with pytest.raises(InvalidBundle, match="line 1"):
        parse_requirements("not a requirement!!\n")


def _understate_sizes(data: bytes) -> bytes:
    """Rewrite every central-directory entry to claim 1 byte unpacked (a lying header)."""
    out = bytearray(data)
    header = data.find(b"PK\x01\x02")
    while header != -1:
        out[header + 24 : header + 28] = (1).to_bytes(4, "little")
        header = data.find(b"PK\x01\x02", header + 4)
    return bytes(out)
