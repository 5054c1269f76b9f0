"""The classifiers of the HAR and distillation experiments (SPEC 8): an MLP for feature
vectors, a 1D-CNN for raw signals, a small 2-D CNN for PIs, and their fusion."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """The paper's feature classifier: `layers` blocks of Linear -> BatchNorm -> ReLU ->
    Dropout(0.2), then a linear layer to the classes (8 layers in all by default)."""

    def __init__(self, features: int, classes: int, width: int = 128, layers: int = 7) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        for index in range(layers):
            blocks += [
                nn.Linear(features if index == 0 else width, width),
                nn.BatchNorm1d(width),
                nn.ReLU(),
                nn.Dropout(0.2),
            ]
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(width, classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(features.flatten(1)))


class SignalCNN(nn.Module):
    """A 1D-CNN on raw `(N, C, T)` signals: conv blocks (Conv1d k=5 -> BatchNorm -> ReLU),
    max pooling after every second block, global average pooling, a linear head. The
    paper's has 10 layers: 9 conv blocks + the head, the default here. `features()` is the
    pooled vector that fusion models extend."""

    def __init__(self, channels: int, classes: int, width: int = 64, blocks: int = 9) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for index in range(blocks):
            layers += [
                nn.Conv1d(channels if index == 0 else width, width, 5, padding=2),
                nn.BatchNorm1d(width),
                nn.ReLU(),
            ]
            if index % 2 == 1:
                layers.append(nn.MaxPool1d(2))
        self.body = nn.Sequential(*layers)
        self.width = width
        self.head = nn.Linear(width, classes)

    def features(self, signals: torch.Tensor) -> torch.Tensor:
        return self.body(signals).mean(dim=2)

    def forward(self, signals: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(signals))


class PICNN(nn.Module):
    """A small 2-D CNN on `(N, C, H, W)` PIs (one channel per input channel): three blocks
    of Conv2d 3x3 -> BatchNorm -> ReLU -> MaxPool(2), global average pooling, a head."""

    def __init__(self, channels: int, classes: int, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for index in range(3):
            layers += [
                nn.Conv2d(channels if index == 0 else width, width, 3, padding=1),
                nn.BatchNorm2d(width),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
        self.body = nn.Sequential(*layers)
        self.width = width
        self.head = nn.Linear(width, classes)

    def features(self, pis: torch.Tensor) -> torch.Tensor:
        return self.body(pis).mean(dim=(2, 3))

    def forward(self, pis: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(pis))


class FusedCNN(nn.Module):
    """A `SignalCNN` whose pooled features are joined by a `PICNN`'s before one linear head:
    the 1D-CNN with PI features fused. Takes `(signals, pis)`."""

    def __init__(self, signal_net: SignalCNN, pi_net: PICNN, classes: int) -> None:
        super().__init__()
        self.signal_net, self.pi_net = signal_net, pi_net
        self.head = nn.Linear(signal_net.width + pi_net.width, classes)

    def forward(self, signals: torch.Tensor, pis: torch.Tensor) -> torch.Tensor:
        joined = torch.cat([self.signal_net.features(signals), self.pi_net.features(pis)], 1)
        return self.head(joined)
