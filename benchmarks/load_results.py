"""What `benchmarks/service_load.py` measured against each server, and how the servers
compare: ratios to the first model's server of the same batching, and the targets."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

from benchmarks.load_client import Phase

BATCHING_TARGET = 3.0  # issue 4: >= 3x the requests/s of the unbatched server, p99 no worse
STUDENT_TARGET = 2.0  # a student's batched server: >= 2x the teacher's requests/s, p99 no worse


@dataclass(frozen=True)
class ServerConfig:
    """One server's batching settings (max batch size 1: unbatched)."""

    max_batch_size: int
    max_wait_ms: float

    @property
    def label(self) -> str:
        if self.max_batch_size == 1:
            return "unbatched"
        return f"batched ({self.max_batch_size}, {self.max_wait_ms:g} ms)"


@dataclass
class ServerResult:
    """Everything measured against one server."""

    model: str
    runs_on: str  # backend / precision, as GET /v1/models says
    config: ServerConfig
    single: Phase
    load: Phase
    batch_sizes: Counter[int]  # forward passes by batch size during the measured load
    load_average: tuple[float, float, float]  # 1, 5, 15 min, just before the measured load

    @property
    def mean_batch_size(self) -> float:
        passes = sum(self.batch_sizes.values())
        return sum(k * v for k, v in self.batch_sizes.items()) / passes if passes else 0.0

    def ratios(self, baseline: ServerResult) -> tuple[float, float]:
        """Requests/s and p99 of this server over `baseline`'s."""
        rps = self.load.requests_per_s / baseline.load.requests_per_s
        return rps, self.load.percentile_ms(99) / baseline.load.percentile_ms(99)

    def markdown(self, baseline: ServerResult) -> str:
        load, single = self.load, self.single
        rps_ratio, p99_ratio = self.ratios(baseline)
        return (
            f"| {self.model} | {self.runs_on} | {self.config.label} "
            f"| {load.requests_per_s:,.1f} | {load.percentile_ms(50):,.1f} "
            f"| {load.percentile_ms(99):,.1f} | {single.percentile_ms(50):,.1f} "
            f"| {single.percentile_ms(99):,.1f} | {self.mean_batch_size:.1f} "
            f"| {load.rejected} / {sum(load.failed.values())} "
            f"| {load.server_cpu_s / load.seconds:.2f} / {load.client_cpu_s / load.seconds:.2f} "
            f"| x{rps_ratio:.2f} / x{p99_ratio:.2f} |"
        )

    def summary(self, baseline: ServerResult) -> dict[str, object]:
        rps_ratio, p99_ratio = self.ratios(baseline)
        return {
            "model": self.model,
            "runs_on": self.runs_on,
            **asdict(self.config),
            "single": self.single.summary(),
            "load": self.load.summary(),
            "batch_sizes": {str(k): v for k, v in sorted(self.batch_sizes.items())},
            "mean_batch_size": self.mean_batch_size,
            "load_average": self.load_average,
            "baseline": baseline.model,
            "requests_per_s_ratio": rps_ratio,
            "p99_ratio": p99_ratio,
        }


@dataclass(frozen=True)
class Verdict:
    """One comparison with a target: requests/s >= `target` times the other's, p99 no worse."""

    comparison: str
    requests_per_s_ratio: float
    p99_ratio: float
    target: float

    @property
    def met(self) -> bool:
        return self.requests_per_s_ratio >= self.target and self.p99_ratio <= 1.0

    def line(self) -> str:
        return (
            f"{self.comparison}: requests/s x{self.requests_per_s_ratio:.2f}, p99 "
            f"x{self.p99_ratio:.2f}; target (requests/s >= {self.target:g}x at p99 <= 1x): "
            f"{'met' if self.met else 'NOT met'}"
        )


def verdicts(results: list[ServerResult]) -> list[Verdict]:
    """Each comparison with a target:
    every model's batched server over its unbatched one, and every later model's batched
    server over the first model's."""
    batched = [r for r in results if r.config.max_batch_size > 1]
    found = []
    for result in batched:
        unbatched = [r for r in results if r.model == result.model and r not in batched]
        for other in unbatched:
            what = f"{result.model}: batched / unbatched"
            found.append(Verdict(what, *result.ratios(other), BATCHING_TARGET))
    for result in batched[1:]:
        what = f"{result.model} / {batched[0].model}, batched"
        found.append(Verdict(what, *result.ratios(batched[0]), STUDENT_TARGET))
    return found


def baseline(result: ServerResult, results: list[ServerResult]) -> ServerResult:
    """The first model's server of the same batching: what the ratios columns divide by."""
    return next(r for r in results if r.config == result.config)
