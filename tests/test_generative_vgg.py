"""The perceptual/style losses' pluggable VGG19: loaded from a local torchvision-style state
dict (no download). No ImageNet weights exist here, so the file is made from random weights:
this checks the loading path and the losses' behaviour, not their value as perceptual metrics."""
from __future__ import annotations

import pytest
import torch

from adstage.generative.losses import PerceptualStyleLoss, VGG19Features


def test_vgg_loads_from_a_local_state_dict_and_losses_behave(tmp_path):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    state = {f"features.{k}": v for k, v in VGG19Features().features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # torchvision files carry it; ignored
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)

    vgg = VGG19Features.from_state_dict(path)
    assert not any(p.requires_grad for p in vgg.parameters())
    loss = PerceptualStyleLoss(vgg)
    a = torch.rand(1, 3, 32, 32)
    same_p, same_s = loss(a, a.clone())
    diff_p, diff_s = loss(a, torch.rand(1, 3, 32, 32))
    assert same_p.item() == 0 and same_s.item() == 0
    assert diff_p.item() > 0 and diff_s.item() > 0


def test_a_wrong_weights_file_is_refused_by_name(tmp_path):
    path = tmp_path / "not-vgg.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, path)
    with pytest.raises((ValueError, RuntimeError)):
        VGG19Features.from_state_dict(path)
