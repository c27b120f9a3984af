"""The batch's summary: one row per input (CSV and JSON: status, seconds, reference, region, output, error)
and one contact sheet PNG of every preview, failures shown with their reason, written in one transaction."""

from __future__ import annotations

import csv
import math
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from MedColorLib.io.atomic import atomic_path, transaction
from MedColorLib.io.report import write_json

NAMES = ("batch_summary.csv", "batch_summary.json", "batch_contact_sheet.png")
COLUMNS = ("input", "status", "seconds", "reference", "region", "output", "error")
TILE = (388, 214)          # a preview (axial, coronal, sagittal; gray above colour) at half its usual size
CAPTION = 30               # px of text under each tile
GAP = 8
COLUMNS_MAX = 4
STATUS_COLOURS = {"done": (120, 220, 120), "skipped": (150, 190, 255), "failed": (255, 110, 110),
                  "cancelled": (230, 200, 90)}


def paths(out: Path) -> tuple[Path, Path, Path]:
    """The summary CSV, JSON and contact sheet in the output folder."""
    return tuple(out / name for name in NAMES)


def write(out: Path, records: list[dict], meta: dict) -> tuple[Path, Path, Path]:
    """CSV, JSON (``meta`` + counts + records) and contact sheet, all or none."""
    csv_path, json_path, sheet_path = paths(out)
    counts = {s: sum(r["status"] == s for r in records) for s in ("done", "skipped", "failed", "cancelled")}
    with transaction():
        with atomic_path(csv_path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(records)
        write_json(json_path, {**meta, "counts": counts, "volumes": records})
        with atomic_path(sheet_path) as tmp:
            contact_sheet(records).save(tmp, format="PNG")
    return csv_path, json_path, sheet_path


def contact_sheet(records: list[dict]) -> Image.Image:
    """Every record as a tile in a grid: its preview (done, skipped) or its reason (failed, cancelled), with
    the input's label and status under it. RGB uint8."""
    cols = max(1, min(COLUMNS_MAX, math.ceil(math.sqrt(len(records)))))
    rows = max(1, math.ceil(len(records) / cols))
    w, h = TILE[0] + GAP, TILE[1] + CAPTION + GAP
    sheet = Image.new("RGB", (cols * w + GAP, rows * h + GAP), (40, 40, 40))
    font = ImageFont.load_default()
    for n, rec in enumerate(records):
        x, y = GAP + (n % cols) * w, GAP + (n // cols) * h
        sheet.paste(_tile(rec, font), (x, y))
        draw = ImageDraw.Draw(sheet)
        draw.rectangle((x, y + TILE[1], x + TILE[0] - 1, y + TILE[1] + CAPTION - 1), fill=(12, 12, 12))
        draw.text((x + 4, y + TILE[1] + 2), _fit(rec.get("label") or rec["input"], w), fill=(235, 235, 235), font=font)
        draw.text((x + 4, y + TILE[1] + 15), f"{rec['status']}  {rec.get('seconds', 0):.1f} s",
                  fill=STATUS_COLOURS.get(rec["status"], (200, 200, 200)), font=font)
    return sheet


def _tile(rec: dict, font) -> Image.Image:
    """The preview scaled into TILE (aspect kept), or a dark tile with the error wrapped in it."""
    tile = Image.new("RGB", TILE, (12, 12, 12))
    preview = Path(rec.get("preview") or "")
    if rec["status"] in ("done", "skipped") and preview.is_file():
        with Image.open(preview) as img:
            img = img.convert("RGB")
            img.thumbnail(TILE, Image.LANCZOS)
            tile.paste(img, ((TILE[0] - img.width) // 2, (TILE[1] - img.height) // 2))
        return tile
    text = "\n".join(textwrap.wrap(rec.get("error") or "no preview", width=60)[:12])
    ImageDraw.Draw(tile).multiline_text((6, 6), text, fill=STATUS_COLOURS.get(rec["status"]), font=font)
    return tile


def _fit(text: str, width_px: int, char_px: int = 6) -> str:
    """Keep the end of a long label (the file name) within the tile."""
    room = max(8, width_px // char_px - 1)
    return text if len(text) <= room else "..." + text[-(room - 3):]

