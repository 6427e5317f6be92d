"""Every generative network runs forward at two resolutions and two batch sizes."""
import pytest
import torch

from adstage.generative import edgeconnect as ec
from adstage.generative import pix2pix as p2p

torch.set_num_threads(1)


@pytest.mark.parametrize("batch,size", [(1, 32), (2, 48)])
def test_edgeconnect_generators_and_discriminators(batch, size):
    g1, g2 = ec.EdgeGenerator(8, 1), ec.InpaintGenerator(8, 1)
    d_edge, d_img = ec.Discriminator(2, 8), ec.Discriminator(3, 8)
    grey, edges = torch.rand(batch, 1, size, size), (torch.rand(batch, 1, size, size) > 0.9).float()
    rgb, hole = torch.rand(batch, 3, size, size), (torch.rand(batch, 1, size, size) > 0.8).float()
    with torch.no_grad():
        e = g1(ec.edge_generator_input(grey, edges, hole))
        img = g2(ec.inpaint_generator_input(rgb, e, hole))
        out_e, feats_e = d_edge(torch.cat([grey, e], 1))
        out_i, feats_i = d_img(img)
    assert e.shape == (batch, 1, size, size) and 0 <= e.min() and e.max() <= 1
    assert img.shape == (batch, 3, size, size) and 0 <= img.min() and img.max() <= 1
    assert out_e.shape == out_i.shape == (batch, 1, size // 8 - 2, size // 8 - 2)
    assert len(feats_e) == len(feats_i) == 5


@pytest.mark.parametrize("batch,size", [(1, 32), (2, 64)])
def test_pix2pix_unet_and_patchgan(batch, size):
    g = p2p.UnetGenerator(3, 3, num_downs=5, base_channels=8)
    d = p2p.PatchDiscriminator(6, 8, n_layers=3)
    x = torch.rand(batch, 3, size, size) * 2 - 1
    g.eval()  # dropout off: deterministic
    with torch.no_grad():
        y = g(x)
        logits, feats = d(torch.cat([x, y], 1))
    assert y.shape == x.shape and y.abs().max() <= 1
    assert logits.shape[:2] == (batch, 1) and len(feats) == 5


def test_paper_sized_networks_build_without_side_effects():
    # Construction only (no forward): the paper's 64/8 networks exist as configured.
    g = ec.InpaintGenerator(64, 8)
    n = sum(p.numel() for p in g.parameters())
    assert 10e6 < n < 11.5e6  # EdgeConnect's G2 has ~10.8M parameters
    assert len(g.net.middle) == 8
