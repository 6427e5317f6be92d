"""Pure-numpy evaluation core (no Spark): the jobs feed it decoded images and ids.

* `kid` — Kernel Inception Distance (unbiased MMD² with the cubic polynomial kernel);
* `features` — the named feature extractor wrapped for BGR uint8 images and whole-image sets;
* `seam` — realism *at the paste seam*: outline vs real-edge patches, a classifier two-sample
  test cross-validated by image, a patch KID, per-image seam scores and a real-vs-real control.
"""
