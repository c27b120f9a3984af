"""The voxel bytes of a volume file are all there and intact, checked before SimpleITK reads them (it zero-fills
a truncated file, reads a damaged compressed stream as garbage and prints several lines of its own):
NIfTI (header, size, gzip CRC, NaN/Inf), NRRD and MetaImage (every data file a regular file, raw data long
enough, gzip/bzip2/zlib streams complete with their checksums). One sequential pass in chunks."""

from __future__ import annotations

import bz2
import math
import re
import zlib
from pathlib import Path

from MedColorLib.errors import MedColorError, short_reason
from MedColorLib.io.headers import Header, read_header
from MedColorLib.io.paths import kind_of

CHUNK = 1 << 22
NIFTI_SUFFIXES = (".nii", ".nii.gz")
# MetaIO's MET_ValueTypeSize (MET_LONG is 4 bytes there)
_META_SIZES = {"char": 1, "uchar": 1, "short": 2, "ushort": 2, "int": 4, "uint": 4, "long": 4, "ulong": 4,
               "long_long": 8, "ulong_long": 8, "float": 4, "double": 8}
_NRRD_SIZES = {"char": 1, "uchar": 1, "short": 2, "ushort": 2, "int": 4, "uint": 4, "long": 8, "longlong": 8,
               "ulonglong": 8, "float": 4, "double": 8}


def check_payload(path: Path) -> Header | None:
    """MedColorError (one line) when the voxels of ``path`` are missing, short or damaged; returns the NRRD or
    MetaImage header (None for other files)."""
    if path.name.lower().endswith(NIFTI_SUFFIXES):
        from MedColorLib.io.nifti_check import check_nifti
        check_nifti(path)
        return None
    header = read_header(path)
    if header is None:
        return None
    for data in header.data_files:
        _check_data_file(path, data)
    expected = _expected_bytes(header)
    if expected is not None:
        _check_stream(header, expected)
    return header


def _check_data_file(path: Path, data: Path) -> None:
    kind = kind_of(data)
    if kind == "missing":
        raise MedColorError(f"the data file {data} named by {path} does not exist; give the header with its data file")
    if kind is not None:
        raise MedColorError(f"the data file {data} named by {path} is {kind}, not a regular file")
    if data.resolve() == path.resolve():
        raise MedColorError(f"{path} names itself as its data file; fix the header")


def _ints(text: str, path: Path, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.split()]
    except ValueError:
        raise MedColorError(f"{path}: {what} {text!r} are not whole numbers; fix the header") from None
    if not values or min(values) < 1:
        raise MedColorError(f"{path}: {what} {text!r} must be positive; fix the header")
    return values


def _expected_bytes(header: Header) -> int | None:
    """Bytes of voxel data the header declares, or None when the type is unknown here (SimpleITK decides)."""
    f = header.fields
    if header.kind == "nrrd":
        size = _nrrd_type_size(f.get("type", ""), f.get("block size", ""))
        dims = f.get("sizes")
    else:
        element = f.get("elementtype", "").lower().removeprefix("met_").removesuffix("_array")
        size = _META_SIZES.get(element)
        if size is not None:
            size *= int(f.get("elementnumberofchannels", "1") or 1)
        dims = f.get("dimsize")
    if size is None or dims is None:
        return None
    return math.prod(_ints(dims, header.path, "sizes")) * size


def _nrrd_type_size(name: str, block: str) -> int | None:
    name = " ".join(name.lower().split())
    if not name:
        return None
    if name == "block":
        return int(block) if block.isdigit() else None
    bits = re.fullmatch(r"u?int(8|16|32|64)(_t)?", name)
    if bits:
        return int(bits.group(1)) // 8
    words = name.replace("unsigned", "u").replace("signed", "").split()
    key = "".join(w for w in words if w != "int") if words != ["int"] else "int"
    return _NRRD_SIZES.get({"u": "uint", "": "int", "ulong": "ulonglong"}.get(key, key))


def _check_stream(header: Header, expected: int) -> None:
    """Every data file read once: raw data long enough; compressed streams complete, checksums right."""
    f, path = header.fields, header.path
    if header.kind == "nrrd":
        encoding = f.get("encoding", "raw").lower()
        method = {"raw": "raw", "gzip": "gzip", "gz": "gzip", "bzip2": "bzip2", "bz2": "bzip2"}.get(encoding)
        skip = int(f.get("byte skip", "0") or 0) if f.get("byte skip", "0").lstrip("-").isdigit() else 0
    else:
        method = "zlib" if f.get("compresseddata", "false").lower() == "true" else "raw"
        skip = int(f.get("headersize", "0")) if f.get("headersize", "0").lstrip("-").isdigit() else 0
    if method is None:  # ascii/hex text encodings: SimpleITK checks them
        return
    sources = [(d, 0) for d in header.data_files] or [(path, header.offset)]
    total = 0
    for file, offset in sources:
        if method == "raw":
            total += max(0, file.stat().st_size - offset - max(skip, 0))
        else:
            total += _inflated_bytes(file, offset, method, expected + max(skip, 0)) - max(skip, 0)
    if total < expected:
        raise MedColorError(f"{path} is truncated: its data hold {max(total, 0)} of the {expected} bytes the header "
                            "declares; give the complete file")


def _inflated_bytes(file: Path, offset: int, method: str, expected: int) -> int:
    """Decompressed length of the stream(s) in ``file`` from ``offset``, checksums verified; counting stops past
    twice ``expected`` (a bomb is not inflated). MedColorError when a stream is damaged or ends early."""
    limit, total, stream = 2 * expected + CHUNK, 0, _decompressor(method)
    try:
        with open(file, "rb") as fh:
            fh.seek(offset)
            for data in iter(lambda: fh.read(CHUNK), b""):
                while data and total <= limit:
                    if stream.eof:  # another stream follows, or padding after the last one
                        if not data.strip(b"\0"):
                            break
                        stream = _decompressor(method)
                    total += len(stream.decompress(data, CHUNK))
                    data = getattr(stream, "unconsumed_tail", b"") or (stream.unused_data if stream.eof else b"")
                    if isinstance(stream, bz2.BZ2Decompressor) and not stream.eof and not stream.needs_input:
                        data = b""
                        while not stream.needs_input and not stream.eof and total <= limit:
                            total += len(stream.decompress(b"", CHUNK))
                        data = stream.unused_data if stream.eof else b""
                if total > limit:
                    return total
    except (zlib.error, OSError, EOFError, ValueError) as err:
        raise MedColorError(f"{file} has a damaged compressed data stream ({short_reason(err)}); "
                            "give an intact file") from None
    if not stream.eof:
        raise MedColorError(f"{file} has a compressed data stream that ends early (truncated); give the complete file")
    return total


def _decompressor(method: str):
    """A streaming decompressor: bzip2, gzip, or zlib/gzip detected by its header (MetaImage)."""
    if method == "bzip2":
        return bz2.BZ2Decompressor()
    return zlib.decompressobj(16 + zlib.MAX_WBITS if method == "gzip" else 32 + zlib.MAX_WBITS)
