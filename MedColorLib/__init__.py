"""MedColor engine: deep colour transfer for grayscale CT/MRI (Zeng et al., IEEE Access 2020).

Pure Python on numpy / torch / scikit-learn / SimpleITK; no Qt. Only ``mrml`` imports ``slicer``.
"""

__version__ = "0.1.0"
