"""The gap filler of the nightly stages (copy-paste gaps, parallax plates): one choice, one place.

``staging_gap_fill``:

* ``telea`` (default): OpenCV's Telea inpainting (``cv2.inpaint``, radius 5) on the same
  fixed-size crops. Measured on held-apart IKEA rooms at the nightly's resolution (silhouette-
  difference gaps, docs/gap-fill.md): hole L1 0.086 against 0.247 for the shipped EdgeConnect
  pair, whose fill of a gap wider than a few pixels is a flat white smear in the pictures.
* ``edgeconnect``: the paper's method, the registry's EdgeConnect pair (G1 edges + G2 image)
  on onnxruntime, CPU or CUDA. Becomes the better choice once a generator beats Telea on that
  measure (research/gap_fill_native.py).

The driver resolves the choice once (``resolve``: model bytes and versions); each Python worker
opens it (``GapFill.open``). Rows record what filled them (``model_versions``,
``onnx_providers``); the stages' salts name it, so a change re-stages.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import cv2

from adstage.config import Settings

if TYPE_CHECKING:
    from adstage.onnx_runtime import OrtOptions

TELEA, EDGECONNECT = "telea", "edgeconnect"   # the values of Settings.staging_gap_fill
TELEA_RADIUS = 5


@dataclass(frozen=True)
class GapFill:
    """What fills the gaps, as the driver resolved it (picklable: shipped to the workers)."""

    kind: str
    versions: tuple[str, ...]                 # stored per row; in the stages' salts
    blobs: tuple[bytes, bytes] | None = None  # EdgeConnect G1, G2 (ONNX)
    sigma: float = 2.0                        # G2's Canny sigma (its card)

    def open(self, device: str, options: "OrtOptions | None" = None, fp16: bool = False,
             batch: Callable[[bool], int] | None = None) -> tuple[Callable, str, int]:
        """On a worker: ``(InpaintFn, providers, crops per call)``. ``batch(cuda)`` gives the
        crops per inpainter call for the provider the session got (default: the runner's)."""
        from adstage.staging.composite import opencv_inpainter, rgb_inpainter

        if self.kind == TELEA:
            return opencv_inpainter(TELEA_RADIUS), "none", batch(False) if batch else 1
        from adstage.generative.inference import EdgeConnectInpainter
        from adstage.onnx_runtime import is_cuda, session_from_bytes

        e, i = (session_from_bytes(b, device, options=options, fp16=fp16) for b in self.blobs)
        runner = EdgeConnectInpainter(e, i, sigma=self.sigma,
                                      **({"batch": batch(is_cuda(i))} if batch else {}))
        return rgb_inpainter(runner), ",".join(i.get_providers()), runner.batch


def resolve(settings: Settings) -> GapFill:
    """The configured gap filler; for EdgeConnect, the registry's pair in
    ``generator_precision`` (``generative.registry.resolve_generators``)."""
    if settings.staging_gap_fill == TELEA:
        return GapFill(TELEA, (f"opencv-telea-r{TELEA_RADIUS}@{cv2.__version__}",))
    from adstage.generative import registry as gen

    edge, inpaint = gen.resolve_generators(settings, [settings.edge_model, settings.inpaint_model])
    return GapFill(EDGECONNECT, (f"{edge.name}@{edge.version}", f"{inpaint.name}@{inpaint.version}"),
                   (edge.data, inpaint.data), canny_sigma(inpaint))


def canny_sigma(model) -> float:
    """Canny sigma the inpainting model was trained with (its card), EdgeConnect's 2 otherwise."""
    from adstage.generative.edges import DEFAULT_SIGMA

    return float((model.card or {}).get("canny_sigma", DEFAULT_SIGMA))
