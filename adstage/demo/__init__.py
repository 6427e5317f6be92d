"""The embedded demo catalog: procedurally drawn furniture, deterministic by seed.

`make demo` and most tests run on it, so the project never needs real merchant data:

* `products` draws one product (shape class, colour, texture) as a BGR image with its exact mask;
* `rooms` draws a room and stands a product in it with a contact shadow (the "staged" photo);
* `catalog` writes a whole catalog: feed, unstaged and staged images, masks and ground truth.

Masks everywhere are uint8, 255 = product, 0 = anything else; boxes are ``[x0, y0, x1, y1]``
half-open pixel bounds (``mask[y0:y1, x0:x1]`` holds every product pixel).
"""
