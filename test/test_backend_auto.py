"""backend="auto": the rule (backends/selection.py), its fallbacks to torch with the reason, the shared CLI
options, and the GPU table's command (refuses without CUDA; the table from given timings)."""
from __future__ import annotations

import argparse

import pytest
import torch

from lsi_perception.backends.selection import choose_backend
from lsi_perception.inference import Detector
from lsi_perception.testing import synthetic_pair

GPU_EPS = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


def test_the_rule_on_cpu_and_cuda():
    cpu = choose_backend("cpu", providers=["CPUExecutionProvider"])
    assert (cpu.backend, cpu.options) == ("onnxruntime", {"provider": "cpu"}) and "CPU" in cpu.reason
    trt = choose_backend("cuda", providers=GPU_EPS, tensorrt=True)
    assert (trt.backend, trt.options) == ("onnxruntime", {"provider": "tensorrt"})
    cuda = choose_backend("cuda:1", providers=GPU_EPS, tensorrt=False)  # onnxruntime-gpu lists TRT without TensorRT
    assert (cuda.backend, cuda.options) == ("onnxruntime", {"provider": "cuda"}) and "TensorRT not installed" in cuda.reason
    no_gpu_ort = choose_backend("cuda", providers=["CPUExecutionProvider"])
    assert no_gpu_ort.backend == "torch" and "pip install .[gpu]" in no_gpu_ort.reason
    missing = choose_backend("cpu", providers=None)
    assert missing.backend == "torch" and "not installed" in missing.reason
    assert choose_backend("cpu", "bf16", providers=GPU_EPS).backend == "torch"
    assert choose_backend("auto", "int8", providers=GPU_EPS).options == {"provider": "cpu"}
    assert choose_backend("cuda", provider="cuda", providers=GPU_EPS).options == {"provider": "cuda"}
    with pytest.raises(RuntimeError, match="int8 needs onnxruntime"):
        choose_backend("cpu", "int8", providers=None)


def test_auto_on_this_cpu_is_onnxruntime_with_torchs_detections(random_checkpoint):
    det = Detector.from_checkpoint(random_checkpoint, device="cpu", backend="auto")
    assert det.backend.name == "onnxruntime" and det.precision == "fp32"
    assert det.backend_reason.startswith("auto: CPU")
    ref = Detector.from_checkpoint(random_checkpoint, device="cpu")
    assert ref.backend_reason == "requested"
    rgb, th = synthetic_pair(128, 160, seed=3)
    a, b = ref.predict(rgb, th), det.predict(rgb, th)
    assert len(a) == len(b) > 0


def test_auto_falls_back_to_torch_and_says_why(random_checkpoint, monkeypatch):
    from lsi_perception.backends import onnxruntime_backend, selection

    monkeypatch.setattr(selection, "onnxruntime_providers", lambda: None)
    det = Detector.from_checkpoint(random_checkpoint, device="cpu", backend="auto")
    assert det.backend.name == "torch" and "onnxruntime is not installed" in det.backend_reason
    monkeypatch.undo()

    def broken(*args, **kwargs):
        raise RuntimeError("the export failed: unsupported operator")

    monkeypatch.setattr(onnxruntime_backend.OnnxRuntimeBackend, "from_checkpoint", broken)
    det = Detector.from_checkpoint(random_checkpoint, device="cpu", backend="auto")
    assert det.backend.name == "torch" and "unsupported operator" in det.backend_reason
    monkeypatch.undo()

    monkeypatch.setattr(Detector, "_differs_from_torch", lambda self, path: "max |box difference| 3 px")
    det = Detector.from_checkpoint(random_checkpoint, device="cpu", backend="auto")
    assert det.backend.name == "torch" and "differ from torch's" in det.backend_reason


def test_auto_keeps_the_callers_errors(random_checkpoint, tmp_path):
    with pytest.raises(FileNotFoundError):
        Detector.from_checkpoint(tmp_path / "missing.safetensors", backend="auto")
    with pytest.raises(ValueError, match="unknown onnxruntime backend option"):
        Detector.from_checkpoint(random_checkpoint, device="cpu", backend="auto", backend_options={"threds": 2})


def test_cli_detector_options_follow_the_node_defaults(random_checkpoint):
    from lsi_perception.cli.detector_options import add_detector_arguments, build_detector, describe_detector
    from lsi_perception.node_logic.node_config import NodeConfig

    parser = argparse.ArgumentParser()
    add_detector_arguments(parser)
    args = parser.parse_args(["--device", "cpu", "--checkpoint", str(random_checkpoint)])
    node = NodeConfig()
    assert (args.backend, args.precision, args.execution_provider) == (node.backend, node.precision,
                                                                      node.execution_provider) == ("auto", "auto", "auto")
    assert parser.parse_args(["--precision", "int8"]).precision == "int8"
    det, _ = build_detector(args)
    assert "onnxruntime" in describe_detector(det) and "(auto: " in describe_detector(det)


# ---------------------------------------------------------------------------------------------- lsi bench gpu


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_bench_gpu_refuses_without_cuda_and_says_why(tmp_path, capsys):
    from lsi_perception.cli import main

    assert main(["bench", "gpu", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "needs a CUDA GPU" in err and "--cpu-check" in err and not (tmp_path / "bench_gpu.json").exists()


def test_bench_gpu_table_from_given_timings():
    from lsi_perception.bench.gpu import ARMS, ArmSpec, _per_pair, format_table

    specs = [ArmSpec.parse(a) for a in ARMS]
    assert {s.backend for s in specs} == {"torch", "onnxruntime"} and sum(s.compile for s in specs) == 1
    assert ArmSpec.parse("ort tensorrt fp16").provider == "tensorrt"
    with pytest.raises(ValueError, match="unknown arm"):
        ArmSpec.parse("tvm fp16")
    rows = []
    for model, arm, batch, e2e, peak in (("pvt_v2_b0", "torch bf16", 1, 3.0, 512.0), ("pvt_v2_b0", "ort tensorrt fp16", 8, 12.0, None),
                                         ("pvt_v2_b2", "ort cuda fp16", 1, 6.0, None)):
        row = {"model": model, "arm": arm, "batch": batch, "e2e_median_ms": e2e, "e2e_p95_ms": e2e * 1.5,
               "peak_mb": peak, "same_count": True}
        rows.append({**row, **_per_pair(row, {"ort tensorrt fp16": 900.0, "ort cuda fp16": 700.0})})
    assert rows[1]["ms_per_pair_p50"] == 1.5 and rows[1]["pairs_per_s"] == pytest.approx(666.7, abs=0.1)
    assert rows[0]["memory_mb"] == 512.0 and rows[1]["memory_mb"] == 900.0
    text = format_table({"device": "NVIDIA H100", "cpu_check": False, "width": 640, "height": 512, "iters": 100,
                         "warmup": 20, "rows": rows, "skipped": [{"model": "pvt_v2_b2", "arm": "ort tensorrt fp16",
                                                                  "why": "TensorRT not installed"}],
                         "goals_ms_per_pair": {"pvt_v2_b0": 2.0, "pvt_v2_b2": 5.0}})
    assert "ort tensorrt fp16     8        1.50" in text
    assert "goal pvt_v2_b0: <= 2 ms per pair; best here 1.50 ms (ort tensorrt fp16, batch 8): met" in text
    assert "goal pvt_v2_b2: <= 5 ms per pair; best here 6.00 ms (ort cuda fp16, batch 1): NOT met" in text
    assert "skipped pvt_v2_b2 ort tensorrt fp16: TensorRT not installed" in text
