"""Staging: the pure image logic of copy-paste staging (numpy in, numpy out; no Spark, no torch).

After Ku et al. (AdKDD 2023): the retrieved donor slot (the mask of a similar product in a room
photo) is emptied, our product is pasted in its place, and only the gap between the two
silhouettes is inpainted.  One module per idea:

* ``placement`` — scale the cutout into the slot (aspect kept, bottom-anchored), fit IoU;
* ``gap``       — the hole to inpaint, its share, fixed-size crops around it and their paste-back;
* ``composite`` — alpha compositing and ``stage_copy_paste``, the whole stage behind one call;
* ``shadow``    — a soft contact shadow under the product, on the background only;
* ``harmonize`` — partial Lab luminance matching of the product to the room around the slot;
* ``quality``   — product preservation, gap share, fit IoU, object expansion;
* ``crops``     — ad-ready 1:1 and 1.91:1 crops around the product;
* ``parallax``  — product layer + filled background plate, a short 2.5-D camera move (MP4/GIF);
* ``gallery_page`` — the static HTML review page of one logical date (the gallery job, ``gallery``,
  fills it).

Conventions, everywhere in this package:

* images are BGR ``uint8`` ``H x W x 3`` (OpenCV order); the injected inpainter gets BGR too
  (``composite.rgb_inpainter`` adapts an RGB model such as ``EdgeConnectInpainter``);
* masks are ``uint8`` ``H x W`` with 0 / 255, **255 = in** (product, slot, or hole to fill);
* soft alpha is ``float32`` ``H x W`` in [0, 1], 1 = opaque product (``as_alpha`` also accepts
  the cutouts' ``uint8`` 0..255 alpha);
* boxes are half-open ``(x0, y0, x1, y1)`` in pixels, as in ``adstage.vision``.
"""
