"""int8 generators: the quantized shipped EdgeConnect pair stays close to fp32 on fixed gap crops,
and the quality gate refuses a damaged int8 model, leaving the fp32 champion in place (real
onnxruntime quantization, real MLflow registry)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from adstage import registry
from adstage.generative import quantize as q
from adstage.generative import quantize_job as qj
from adstage.generative import registry as gen
from adstage.generative.masks import SilhouetteBank


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    from adstage.config import Settings

    """fp32 shipped pair, its int8 quantization, and fixed calibration / evaluation crops."""
    from adstage.demo.catalog import generate_catalog

    cat = generate_catalog(tmp_path_factory.mktemp("cat"), 10, seed=5)["out_dir"]
    rooms, masks = qj.demo_rooms(cat)
    rooms = [(rid, img) for rid, img, _ in rooms]
    bank = SilhouetteBank.from_masks(masks)
    calib = q.gap_crops(rooms[:3], bank, seed=1)
    evalset = q.gap_crops(rooms[3:], bank, seed=2, holes_per_room=2)
    edge = registry.shipped(gen.SHIPPED_FOLDER, gen.SHIPPED[gen.EDGE_MODEL])
    inp = registry.shipped(gen.SHIPPED_FOLDER, gen.SHIPPED[gen.INPAINT_MODEL])
    _, edge_feeds, inp_feeds = qj.inpaint(edge.data, inp.data, calib, 2.0, record=True)
    int8 = (q.quantize_bytes(edge.data, edge_feeds), q.quantize_bytes(inp.data, inp_feeds))
    fp32_out = qj.inpaint(edge.data, inp.data, evalset, 2.0)
    return {"fp32": (edge, inp), "int8": int8, "eval": evalset, "fp32_out": fp32_out,
            "embed": qj.rgb_embedder(Settings.load({}, environ={}))[0]}


@pytest.mark.slow
def test_int8_pair_stays_within_tolerance_of_fp32_on_fixed_crops(pair):
    ev = pair["eval"]
    assert len(ev) >= 4 and len({h.tobytes() for h in ev.holes}) == len(ev)
    ops = q.quantized_ops(pair["int8"][1])
    assert ops["int8"].get("Conv", 0) >= 10  # the convolutions run on integer kernels
    out = qj.inpaint(*pair["int8"], ev, 2.0)
    holes = ev.holes > 0
    assert np.array_equal(out[~holes], ev.crops[~holes])  # known pixels untouched
    # Inside the holes int8 differs from fp32 by a few grey levels, not by content.
    drift = np.abs(out.astype(np.float32) - pair["fp32_out"].astype(np.float32))[holes].mean() / 255
    fp32_error = np.abs(pair["fp32_out"].astype(np.float32) - ev.crops)[holes].mean() / 255
    assert drift < 0.1 * fp32_error, (drift, fp32_error)
    # ... and its L1 against the truth is within the gate's tolerance of fp32's.
    verdict = q.compare(pair["fp32_out"], out, ev.crops, holes, pair["embed"])
    assert abs(verdict.figures["rel_l1"]) <= q.DEFAULT_TOLERANCE, verdict.reason


def _damaged(model: bytes, factor: float = 3.0) -> bytes:
    """The int8 graph with the weight scales of its output convolution multiplied by `factor`
    (a corrupted quantization parameter: the graph still loads and runs; a middle layer would
    not do, the instance normalisation after it cancels any scale)."""
    m = onnx.load_from_string(model)
    inits = {i.name: i for i in m.graph.initializer}
    last_conv = [n for n in m.graph.node if n.op_type == "Conv"][-1]
    weight_dq = next(n for n in m.graph.node
                     if n.op_type == "DequantizeLinear" and last_conv.input[1] in n.output)
    scale = inits[weight_dq.input[1]]
    scale.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(scale) * np.float32(factor),
                                           scale.name))
    return m.SerializeToString()


@pytest.mark.slow
def test_gate_refuses_damaged_int8_and_registry_keeps_fp32_champion(pair, settings):
    from dataclasses import replace

    import mlflow
    from mlflow import MlflowClient

    ev = pair["eval"]
    edge8, inp8 = pair["int8"]
    broken = _damaged(inp8)
    out = qj.inpaint(edge8, broken, ev, 2.0)
    verdict = q.compare(pair["fp32_out"], out, ev.crops, ev.holes > 0, pair["embed"])
    assert not verdict.passed and verdict.reason.startswith("refused:")
    assert "l1" in verdict.reason and verdict.figures["rel_l1"] > q.DEFAULT_TOLERANCE

    # Registry: fp32 champion registered first, then the refused int8 candidate.
    edge, inp = pair["fp32"]
    champion = registry.register_onnx(settings, _written(settings, inp.data), gen.INPAINT_MODEL,
                                      inp.card)
    fp32 = replace(inp, name=gen.INPAINT_MODEL, version=champion, source="registry")
    card = qj.int8_card(fp32, broken, verdict, "qdq", "adstage-randfeat-v1", "test crops")
    version = qj.register_int8(settings, fp32, broken, card, verdict)
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    assert version != champion
    assert str(client.get_model_version_by_alias(gen.INPAINT_MODEL, gen.CHAMPION).version) == champion
    with pytest.raises(mlflow.exceptions.MlflowException):
        client.get_model_version_by_alias(gen.INPAINT_MODEL, gen.INT8)
    tags = client.get_model_version(gen.INPAINT_MODEL, version).tags
    assert tags["adstage.quant.verdict"] == "refused" and tags["adstage.precision"] == "int8"
    assert tags["adstage.quant.reason"] == verdict.reason

    # A staging job asking for int8 runs the fp32 champion (the pair falls back together).
    int8_settings = replace(settings, generator_precision="int8")
    resolved = gen.resolve_generators(int8_settings, [gen.EDGE_MODEL, gen.INPAINT_MODEL])
    assert [m.version for m in resolved][1] == champion
    assert all(m.card.get("precision") != "int8" for m in resolved)

    # Once a gate-passing int8 of this champion is registered, the same call runs it.
    good = q.Verdict(True, "passed: test", {"rel_l1": 0.0})
    passed = qj.register_int8(settings, fp32, inp8, qj.int8_card(fp32, inp8, good, "qdq", "x", "y"),
                              good)
    assert str(client.get_model_version_by_alias(gen.INPAINT_MODEL, gen.INT8).version) == passed
    assert str(client.get_model_version_by_alias(gen.INPAINT_MODEL, gen.CHAMPION).version) == champion
    model = gen.resolve_generators(int8_settings, [gen.INPAINT_MODEL])[0]
    assert (model.version, model.card["precision"]) == (passed, "int8")


def _written(settings, data: bytes):
    from pathlib import Path

    path = Path(settings.home) / "fp32.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
