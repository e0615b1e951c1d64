"""AI segmentation: LiteMedSAM embedding and box latency, propagation of the real CTA's aorta, MeshNet on a 256^3 T1.

Peers, measured in the same run: a plain ``onnxruntime.InferenceSession`` with default options fed the same tensors
(what the models' reference scripts do), and for MeshNet the whole conformed 256^3 cube as the reference ran it
(ours crops to the head). TotalSegmentator's published 4.5 minutes per CTA on a CPU laptop is printed for context.
Peak memory of a MeshNet run is each path's own process maximum RSS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import Table, median

DATA = Path(os.environ.get("SURGITWIN_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
AORTA = DATA / "anatomy-vmtk-aorta"
T1 = DATA / "mr-t1-3d-philips-mprage/reference/dcm2niix_v1.0.20260724/WIP_ADNI_Sag3D_MPRAGE_1301.nii.gz"
CHECK_BOX, CHECK_SLICE = (61, 121, 86, 182), 12  # the acceptance check's box on the CTA
TOTALSEGMENTATOR_CPU_S = 270.0  # published: fast mode, one CTA, CPU laptop (issue text)

_MESHNET_CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
import numpy as np
from imaging.image_io import read_image
from imaging.ai.meshnet import run_meshnet, conform, _scale
from imaging.ai.manifests import load_manifest
image = read_image({t1!r})
t = time.perf_counter()
if {plain!r}:
    import onnxruntime as ort
    x = _scale(conform(image)[0])
    session = ort.InferenceSession(str(load_manifest({model!r}).onnx_path()), providers=["CPUExecutionProvider"])
    labels = session.run(None, {{"input": x[None, None]}})[0]
else:
    labels = run_meshnet(image, {model!r}).labels.array
seconds = time.perf_counter() - t
print(json.dumps({{"seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def _meshnet_process(model: str, plain: bool) -> dict[str, float]:
    code = _MESHNET_CHILD.format(root=str(Path(__file__).resolve().parents[1]), t1=str(T1), model=model, plain=plain)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _litemedsam_rows(table: Table, reps: int) -> None:
    import onnxruntime as ort
    import SimpleITK as sitk

    from imaging.ai.litemedsam import LiteMedSAM, get_slice
    from imaging.ai.propagate import propagate_box
    from imaging.image_io import read_image

    volume = read_image(AORTA / "image" / "aorta.mha")
    model = LiteMedSAM()
    window = model.window(volume)
    tensor, _ = model.model_input(model.to_uint8(get_slice(volume.array, "axial", CHECK_SLICE), window))
    plain = ort.InferenceSession(str(model.manifest.onnx_path("litemedsam_encoder.onnx")),
                                 providers=["CPUExecutionProvider"])
    ours_t, plain_t = [], []
    for _ in range(reps + 1):
        model.clear_cache()
        t = time.perf_counter()
        model.embedding(volume, "axial", CHECK_SLICE)
        ours_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        plain.run(None, {"image": tensor})
        plain_t.append(time.perf_counter() - t)
    table.add("LiteMedSAM embedding, one 393x157 slice", median(ours_t[1:]), median(plain_t[1:]),
              peer_name="plain onnxruntime", note="reference 0.64-1.7 s here")
    model.segment_slice(volume, CHECK_BOX, CHECK_SLICE)  # embedding cached
    latency = []
    for _ in range(max(reps, 5) * 4):
        t = time.perf_counter()
        model.segment_slice(volume, CHECK_BOX, CHECK_SLICE)
        latency.append(time.perf_counter() - t)
    table.add("box -> mask, cached embedding", median(latency), 0.150, peer_name="goal", note="decoder + resize")
    model.clear_cache()
    t = time.perf_counter()
    result = propagate_box(model, volume, CHECK_BOX, CHECK_SLICE, "axial")
    seconds = time.perf_counter() - t
    ref = sitk.GetArrayFromImage(sitk.ReadImage(str(AORTA / "segmentation" / "aorta-final-levelset.mha"))) <= 0
    zs = [z for z in range(ref.shape[0]) if ref[z].any()]
    dice = np.mean([2 * (result.mask[z] & ref[z]).sum() / (result.mask[z].sum() + ref[z].sum()) for z in zs])
    table.add("propagate one box through the aorta CTA", seconds, TOTALSEGMENTATOR_CPU_S,
              peer_name="TotalSegmentator fast, CPU (published)",
              note=f"{len(result.slices)} slices, mean Dice {dice:.3f} vs vmtk level set (goal 0.80)")


def run(table: Table, *, quick: bool = False, reps: int = 5) -> None:
    """Add the AI rows to ``table`` (needs the shared models and data; skipped with a note when absent)."""
    if not (DATA / "models" / "litemedsam.json").is_file():
        print(f"  skipped: no models under {DATA / 'models'} (set SURGITWIN_TEST_DATA)")
        return
    _litemedsam_rows(table, reps)
    rounds = 1 if quick else 3
    for model in ("brain-tissue",) if quick else ("brain-tissue", "brain-subcortical"):
        # Interleaved rounds, medians: one run of the 18-class model takes 35-45 s, and this machine's load swings
        # a single pair by more than the crop saves.
        ours, plain = [], []
        for _ in range(rounds):
            ours.append(_meshnet_process(model, plain=False))
            plain.append(_meshnet_process(model, plain=True))
        table.add(f"MeshNet {model}, 256^3 T1 (whole run)", median([r["seconds"] for r in ours]),
                  median([r["seconds"] for r in plain]), peer_name="plain onnxruntime, whole cube",
                  note=f"ours crops the conformed cube to the head; median of {rounds}, interleaved")
        table.add(f"MeshNet {model}, peak memory", max(r["rss_mb"] for r in ours), max(r["rss_mb"] for r in plain),
                  unit="MB", peer_name="plain onnxruntime")
