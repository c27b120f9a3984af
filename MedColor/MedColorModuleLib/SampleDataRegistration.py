"""Registers MedColor's sample CT with the Sample Data module on every supported Slicer (no Qt)."""

from __future__ import annotations

from pathlib import Path

SAMPLE_URL = "https://github.com/wasserth/TotalSegmentator/raw/0e65a44/tests/reference_files/example_ct_sm.nii.gz"
SAMPLE_SHA256 = "e50c00b2914e2cac0aaee8e7f3b5f57d44d9f21bfd5c0577271c54c0cb49e9fb"
CATEGORY = "MedColor"


def registerSampleData(sampleDataLogic, iconsPath: Path, title: str = "MedColor") -> None:
    """Add a small abdomen CT (TotalSegmentator example, CC BY 4.0) to Sample Data.

    Slicer 5.12 added ``registerCustomSampleDataCategory(category, title)``; 5.10 has no such method and
    shows the category under its name."""
    if hasattr(sampleDataLogic, "registerCustomSampleDataCategory"):
        sampleDataLogic.registerCustomSampleDataCategory(CATEGORY, title)
    sampleDataLogic.registerCustomSampleDataSource(
        category=CATEGORY,
        sampleName="MedColorAbdomenCT",
        thumbnailFileName=str(Path(iconsPath) / "MedColor.png"),
        uris=SAMPLE_URL,
        fileNames="MedColorAbdomenCT.nii.gz",
        checksums=f"SHA256:{SAMPLE_SHA256}",
        nodeNames="MedColorAbdomenCT",
    )


def reloadableModuleNames(modules) -> list[str]:
    """The imported MedColorModuleLib/MedColorLib modules, which Slicer's Reload would otherwise keep cached."""
    return [name for name in modules if name.split(".")[0] in ("MedColorModuleLib", "MedColorLib")]
