"""Vision core: the retrieval half of copy-paste staging.

* ``classify``  — staged / unstaged labels for catalog images (ONNX classifier);
* ``backdrop_cutout`` — product mask and box from an unstaged photo on a plain backdrop (pure
  OpenCV); ``cutouts`` — the cutouts job: cutouts of unstaged photos, donor slots of staged ones;
* ``slots``     — replaceable-product regions in staged photos (any ONNX segmenter);
* ``shape``     — shape descriptors of masks; ``shape_index`` — FAISS per category;
* ``pair_donors`` — the pair_donors job: each unstaged product's top-k donor slots.

Modules that train (``classifier``, ``segmenter``, ``synth``) import torch; nothing the nightly
jobs import does.
"""
