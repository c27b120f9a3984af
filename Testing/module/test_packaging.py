"""Extension packaging (issue 12 point 13): MedColor.s4ext, MedColor.json and CMakeLists.txt agree, and the
package carries MedColor's own LICENSE.txt and README.md (not Slicer's defaults from UseSlicer.cmake).

MedColor.json must hold what the ExtensionsIndex catalog schema v1.0.1 allows (required $schema, category,
scm_url; no other properties than the schema lists).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_KEYS = {"$schema", "category", "scm_url", "scm_revision", "scm_type", "build_dependencies",
               "build_subdirectory", "enabled", "tier"}


def cmake_sets(path: Path) -> dict[str, str]:
    """``set(NAME value)`` of a CMakeLists, quotes removed."""
    text = path.read_text()
    return {m.group(1): m.group(2).strip().strip('"') for m in re.finditer(r"^set\((\w+)\s+(.+?)\)\s*$", text, re.M)}


def s4ext(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition(" ")
            out[key] = value.strip()
    return out


def test_s4ext_agrees_with_json_and_cmake():
    legacy, catalog, cmake = s4ext(ROOT / "MedColor.s4ext"), json.loads((ROOT / "MedColor.json").read_text()), \
        cmake_sets(ROOT / "CMakeLists.txt")
    assert re.search(r"^project\(MedColor\)", (ROOT / "CMakeLists.txt").read_text(), re.M)
    assert set(catalog) <= SCHEMA_KEYS and {"$schema", "category", "scm_url"} <= set(catalog)
    assert legacy["scm"] == catalog["scm_type"] == "git"
    assert legacy["scmurl"] == catalog["scm_url"] and legacy["scmrevision"] == catalog["scm_revision"]
    assert legacy["depends"].split() == catalog["build_dependencies"] == cmake["EXTENSION_DEPENDS"].split()
    assert legacy["build_subdirectory"] == catalog["build_subdirectory"]
    assert legacy["category"] == catalog["category"] == cmake["EXTENSION_CATEGORY"]
    for key, variable in (("homepage", "EXTENSION_HOMEPAGE"), ("contributors", "EXTENSION_CONTRIBUTORS"),
                          ("iconurl", "EXTENSION_ICONURL"), ("description", "EXTENSION_DESCRIPTION"),
                          ("screenshoturls", "EXTENSION_SCREENSHOTURLS"), ("status", "EXTENSION_STATUS")):
        assert legacy[key] == cmake[variable], key
    assert legacy["enabled"] == ("1" if catalog.get("enabled", True) else "0")


def test_package_carries_medcolors_licence_and_readme():
    cmake = cmake_sets(ROOT / "CMakeLists.txt")
    assert cmake["EXTENSION_LICENSE_FILE"] == "${CMAKE_CURRENT_SOURCE_DIR}/LICENSE.txt"
    assert cmake["EXTENSION_README_FILE"] == "${CMAKE_CURRENT_SOURCE_DIR}/README.md"
    assert (ROOT / "LICENSE.txt").is_file() and (ROOT / "README.md").is_file()
    text = (ROOT / "CMakeLists.txt").read_text()
    assert text.index("EXTENSION_LICENSE_FILE") < text.index("include(${Slicer_USE_FILE})")  # before the default


def test_module_cmake_lists_every_module_file():
    listed = set(re.findall(r"^\s+(MedColorModuleLib/\w+\.py)$", (ROOT / "MedColor" / "CMakeLists.txt").read_text(), re.M))
    present = {f"MedColorModuleLib/{p.name}" for p in (ROOT / "MedColor" / "MedColorModuleLib").glob("*.py")}
    assert listed == present


def test_cmake_minimum_is_not_older_than_slicers():
    # issue 21 point 9: SlicerConfig.cmake (v5.10.0 .. main, CMake/SlicerConfig.cmake.in:55) requires 3.20.6
    match = re.search(r"^cmake_minimum_required\(VERSION ([\d.]+)\.\.\.([\d.]+) FATAL_ERROR\)",
                      (ROOT / "CMakeLists.txt").read_text(), re.M)
    low, high = (tuple(int(part) for part in version.split(".")) for version in match.groups())
    assert (3, 20, 6) <= low <= high
