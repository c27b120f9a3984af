"""``medcolor evaluate``: target/reference pairs through MedColor's modes and the classical baselines,
the paper's ablations, and every figure as one JSON-safe dict (the report is evaluation/report.py).

A configuration is a JSON file (see bench/eval_default.json): ``settings`` (engine settings, each one
overridable from the command line), ``methods`` for 2-D pairs, ``pairs`` (2-D slices), ``volumes``
(cropped volumes and their modes), ``ablations`` (loss terms, gamma, lambda/gamma, aY on one pair) and
``warm_start`` (a slice chain with and without warm starts). Relative paths resolve against ``root``
(itself relative to the configuration's folder; default: that folder).
"""

from __future__ import annotations

import time
from pathlib import Path

from MedColorLib.evaluation.config import Log
from MedColorLib.evaluation.ground_truth import check_section, evaluate_ground_truth
from MedColorLib.evaluation.pairs import evaluate_ablations, evaluate_pairs
from MedColorLib.evaluation.volume_truth import check_section as check_volume_truth
from MedColorLib.evaluation.volume_truth import evaluate_volume_truth
from MedColorLib.evaluation.volumes import evaluate_volumes, evaluate_warm_start


def run_evaluation(config: dict, log: Log | None = None) -> dict:
    """Every section of a loaded configuration -> {"records", "images", "settings", "seconds", ...}."""
    log = log or (lambda s: None)
    t0, nets = time.perf_counter(), {}
    # a bad ground_truth section fails here, before anything runs
    config = {**config, "ground_truth": check_section(config, config.get("root_dir", Path("."))),
              "volume_truth": check_volume_truth(config.get("volume_truth"))}
    records, images = evaluate_pairs(config, nets, log)
    vol_records, vol_images = evaluate_volumes(config, log)
    abl_records, abl_images = evaluate_ablations(config, nets, log)
    warm_records = evaluate_warm_start(config, nets, log)
    truth_records, truth_images = evaluate_ground_truth(config, nets, log)
    vt_records, vt_images = evaluate_volume_truth(config, log)
    labels = {w: n.label for w, n in nets.items()}
    return {"settings": config["settings"], "config": config["source"], "network_labels": labels,
            "notes": config.get("notes", []),
            "records": records + vol_records + abl_records + warm_records + truth_records + vt_records,
            "images": {"2d": images, "volumes": vol_images, "ablations": abl_images, "ground_truth": truth_images,
                       "volume_truth": vt_images},
            "seconds": time.perf_counter() - t0}


def run_evaluate_logged(config: dict, out_dir: str | Path, name: str, command: str, log: Log) -> dict[str, Path]:
    """Run a loaded configuration and write its report (evaluation.report.write_outputs)."""
    from MedColorLib.evaluation.report import write_outputs
    result = run_evaluation(config, log)
    return write_outputs(result, out_dir, command, name)
