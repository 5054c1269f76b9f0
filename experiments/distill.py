"""Topological knowledge distillation on HAPT (SPEC 8; Jeon, Choi, Shukla, Turaga et al.:
TPKD, arXiv 2407.05315; mixup in topological KD, arXiv 2502.00779).

Teacher A is a 1D-CNN on raw accelerometer windows, teacher B a CNN on their exact PIs, and a
small 1D-CNN student learns from raw windows only, so it needs no PIs at test time. Teacher B
is trained on the paper's PIs (`signal-sublevel`, 50 x 50, from the store) and on the
authors' group's (`signal-sublevel-tpkd`, 64 x 64), so each distilled row exists in both
settings. The students: from scratch; KD from A alone (vanilla: the same loss with one
teacher, so rows differ only in their teachers); KD from A+B (`experiments.kd`: T = 4, logits
divided by their std, 0.7 KL to B + 0.3 KL to A, blend 0.99, the group's settings); and
KD from A+B with partial mixup (8 rows of each batch of 64 mixed with another; the teachers
label the mixed windows, B from the exact PIs of each mixed window).

Six activities, 250-sample (5 s) windows, official training users for training and the 9
test users for scoring (`data.HAPT_ACC`), fixed epochs, no early stopping. Every model of a
seed starts from `seeded(seed)`, so the students of a seed share their initial weights and
a `--row` run trains the same teachers as a full run. `ms_per_sample` is the test-time cost
per window on this CPU (torch and numba at `--threads`): the PI teacher's includes computing
its PIs, which the "exact PIs alone" rows time by themselves. It is the one metric that
changes on a rerun.

Full run: `python -m experiments run distill --threads 1`, 24 minutes measured on 2 cores
shared with five other jobs; a quick run (`--quick`) under a minute. docs/experiments.md has
the numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from experiments.classify import (
    Loss,
    Schedule,
    cross_entropy,
    fit,
    logits_of,
    ms_per_sample,
    scores,
    seeded,
)
from experiments.compare import gap, verdict_on_all
from experiments.distill_data import GROUP, PAPER, RAW, DistillData, load_distill_data
from experiments.kd import (
    BLEND,
    PI_TEACHER_WEIGHT,
    RAW_TEACHER_WEIGHT,
    TEMPERATURE,
    distillation_loss,
    partial_mixup,
    relabelled,
)
from experiments.nets import PICNN, SignalCNN
from experiments.results import Outcome, Result, Settings, Summary, Verdict
from experiments.teachers import Teacher, Teachers
from pinet.device import use_threads

TITLE = "Topological knowledge distillation on HAPT"


@dataclass(frozen=True)
class Config:
    """Schedules and sizes. Teacher A is nets.py's 1D-CNN at half width; the student a
    quarter of its width and about half its depth, as the group pairs WRN16-3 teachers with
    a WRN16-1 student; teacher B a narrow PI CNN (on 64 x 64 PIs it is the slowest model)."""

    teacher: Schedule
    student: Schedule
    teacher_width: int
    teacher_blocks: int
    pi_width: int
    student_width: int
    student_blocks: int
    mixup_pairs: int


FULL = Config(Schedule(epochs=12), Schedule(epochs=15), 32, 9, 16, 8, 5, mixup_pairs=8)
QUICK = Config(Schedule(epochs=1), Schedule(epochs=1), 8, 3, 4, 4, 2, mixup_pairs=8)

TEACHER_ROWS = {
    RAW: "teacher A: 1D-CNN on raw",
    PAPER: "teacher B: PI CNN (paper PIs)",
    GROUP: "teacher B: PI CNN (group PIs)",
}
EXACT_ROWS = {PAPER: "exact PIs alone (paper recipe)", GROUP: "exact PIs alone (group recipe)"}


@dataclass(frozen=True)
class Student:
    """A student row: its teachers with their weights in the loss (none: trained from
    scratch), and whether partial mixup is on."""

    name: str
    teachers: tuple[tuple[str, float], ...] = ()
    mixup: bool = False


def _a_plus_b(pis: str) -> tuple[tuple[str, float], ...]:
    return ((pis, PI_TEACHER_WEIGHT), (RAW, RAW_TEACHER_WEIGHT))


SCRATCH, VANILLA = "student: from scratch", "student: KD from A"
STUDENTS = (
    Student(SCRATCH),
    Student(VANILLA, ((RAW, 1.0),)),
    Student("student: KD from A+B (paper PIs)", _a_plus_b(PAPER)),
    Student("student: KD from A+B (group PIs)", _a_plus_b(GROUP)),
    Student("student: KD from A+B + mixup (paper PIs)", _a_plus_b(PAPER), mixup=True),
    Student("student: KD from A+B + mixup (group PIs)", _a_plus_b(GROUP), mixup=True),
)
ROWS = (*TEACHER_ROWS.values(), *EXACT_ROWS.values(), *(s.name for s in STUDENTS))


def run(settings: Settings) -> Outcome:
    """Every wanted row for every seed; teachers are trained once per seed, as rows need them."""
    use_threads(settings.threads)
    config = QUICK if settings.quick else FULL
    data = load_distill_data(settings)
    results = []
    for seed in settings.seeds:
        teachers = Teachers(
            partial(_train_teacher, data=data, config=config, seed=seed, settings=settings)
        )
        for key, row in TEACHER_ROWS.items():
            if settings.wants(row):
                results.append(_scored(row, seed, teachers.get(key).logits, data))
        for kind, row in EXACT_ROWS.items():
            if settings.wants(row):
                results.append(_exact_cost(row, seed, data, kind))
        for student in STUDENTS:
            if settings.wants(student.name):
                net = _train_student(student, data, config, teachers, seed, settings)
                results.append(_scored(student.name, seed, _raw_predictor(net), data))
    return Outcome(results, data.description, _notes(config, data))


def _train_teacher(
    key: str, data: DistillData, config: Config, seed: int, settings: Settings
) -> Teacher:
    """Teacher A (`RAW`) on the raw training windows, or teacher B on one kind of PIs."""
    generator = seeded(seed, settings.threads)
    if key == RAW:
        net: nn.Module = SignalCNN(
            data.channels, data.classes, config.teacher_width, config.teacher_blocks
        )
        inputs, recipe = data.train_signals, None
    else:
        net = PICNN(data.channels, data.classes, config.pi_width)
        inputs, recipe = data.pis[key].train, data.pis[key].recipe
    fit(net, (inputs,), data.train_labels, config.teacher, generator)
    return Teacher(net, recipe, logits_of(net, (inputs,)))


def _train_student(
    student: Student,
    data: DistillData,
    config: Config,
    teachers: Teachers,
    seed: int,
    settings: Settings,
) -> nn.Module:
    """The student trained with its teachers (trained first: training one reseeds torch)."""
    chosen = [teachers.get(key) for key, _ in student.teachers]
    generator = seeded(seed, settings.threads)
    net = SignalCNN(data.channels, data.classes, config.student_width, config.student_blocks)
    inputs = (data.train_signals, *(teacher.train_logits for teacher in chosen))
    loss = cross_entropy
    if chosen:
        weights = tuple(weight for _, weight in student.teachers)
        pairs = config.mixup_pairs if student.mixup else 0
        loss = _distillation(chosen, weights, data.classes, pairs)
    return fit(net, inputs, data.train_labels, config.student, generator, loss)


def _distillation(
    teachers: list[Teacher], weights: tuple[float, ...], classes: int, mixup_pairs: int
) -> Loss:
    """The loss of a distilled student, taking (windows, each teacher's logits on them); with
    `mixup_pairs`, that many rows of each batch are mixed and relabelled by the teachers."""

    def loss(
        model: nn.Module,
        inputs: tuple[torch.Tensor, ...],
        labels: torch.Tensor,
        generator: torch.Generator,
    ) -> torch.Tensor:
        signals, *teacher_logits = inputs
        targets = labels
        if mixup_pairs:
            mixed = partial_mixup(signals, labels, classes, mixup_pairs, generator)
            signals, targets = mixed.inputs, mixed.targets
            teacher_logits = [
                relabelled(logits, mixed, teacher.logits)
                for logits, teacher in zip(teacher_logits, teachers, strict=True)
            ]
        return distillation_loss(model(signals), targets, teacher_logits, weights)

    return loss


def _raw_predictor(net: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda signals: logits_of(net, (signals,))


def _scored(
    row: str, seed: int, predict: Callable[[torch.Tensor], torch.Tensor], data: DistillData
) -> Result:
    """Accuracy and macro-F1 on the test windows, and the cost per window of `predict`, which
    maps raw windows to logits (computing whatever the model takes from them)."""
    logits = predict(data.test_signals)
    count = len(data.test_labels)
    metrics = scores(logits, data.test_labels, data.classes)
    metrics["ms_per_sample"] = ms_per_sample(lambda: predict(data.test_signals), count)
    return Result(row, seed, metrics)


def _exact_cost(row: str, seed: int, data: DistillData, kind: str) -> Result:
    """Milliseconds per test window of one kind of exact PIs, from raw windows."""
    windows = data.test_signals.numpy()
    recipe = data.pis[kind].recipe
    cost = ms_per_sample(lambda: recipe.images_batch(windows), len(windows))
    return Result(row, seed, {"ms_per_sample": cost})


def _notes(config: Config, data: DistillData) -> list[str]:
    return [
        f"Loss: (1 - {BLEND}) CE + {BLEND} T^2 (sum of teacher weight x KL), T = {TEMPERATURE}, "
        f"logits divided by their std; A+B weights {PI_TEACHER_WEIGHT} (PI teacher) and "
        f"{RAW_TEACHER_WEIGHT} (teacher A); vanilla KD: teacher A alone, weight 1.",
        f"Sizes: teacher A 1D-CNN width {config.teacher_width}, {config.teacher_blocks} blocks; "
        f"teacher B PI CNN width {config.pi_width}; student 1D-CNN width "
        f"{config.student_width}, {config.student_blocks} blocks. Epochs: teachers "
        f"{config.teacher.epochs}, students {config.student.epochs}; batch 64, Adam, cosine.",
        f"Partial mixup: {config.mixup_pairs} rows of each batch mixed with another row, "
        "weights uniform in [0, 1]; mixed labels for the CE, teachers' outputs on the mixed "
        "windows for the KL (teacher B on the exact PIs of each mixed window).",
        "Group PIs: signal-sublevel-tpkd, each channel mean-centred and divided by "
        f"{data.pis[GROUP].recipe.params['scale']} g; the largest |x - mean| over this run's "
        f"training windows is {data.description['train_max_deviation']:.4f} g.",
    ]


def verdicts(summary: Summary) -> list[Verdict]:
    """The group's claim in each setting, and what a student saves at test time."""
    claims = [
        (
            "Topological distillation (KD from A+B, group PIs) beats the student from scratch "
            "and vanilla KD from A by more than the pooled std over seeds",
            "student: KD from A+B (group PIs)",
        ),
        (
            "The same with partial mixup (KD from A+B + mixup, group PIs)",
            "student: KD from A+B + mixup (group PIs)",
        ),
        (
            "The same with the paper's PIs (KD from A+B, paper PIs)",
            "student: KD from A+B (paper PIs)",
        ),
    ]
    found = [
        verdict_on_all(
            claim,
            [gap(summary, row, SCRATCH), gap(summary, row, VANILLA)],
            lambda g: g.difference > g.spread,
        )
        for claim, row in claims
    ]
    return [*found, _cost_verdict(summary)]


def _cost_verdict(summary: Summary) -> Verdict:
    """Whether the student costs less per window than the exact PIs its PI teacher needs."""
    student = summary.get(SCRATCH, "ms_per_sample")
    exact = summary.get(EXACT_ROWS[GROUP], "ms_per_sample")
    teacher = summary.get(TEACHER_ROWS[GROUP], "ms_per_sample")
    known = all(math.isfinite(value) for value in (student, exact, teacher))  # NaN: not run
    return Verdict(
        "A student on raw windows costs less per window than computing the group's exact PIs "
        "alone (what its PI teacher needs before its CNN)",
        student < exact if known else None,
        f"student {student:.3f} ms, exact group PIs {exact:.3f} ms, PI teacher with its PIs "
        f"{teacher:.3f} ms per window",
    )
