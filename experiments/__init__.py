"""Downstream experiments: what exact and learned PIs are worth to a classifier.

Each experiment is one module with a `TITLE`, its `ROWS` (the models it compares, also the
names `--row` takes), a `run(settings) -> Outcome` and a `verdicts(summary) -> list[Verdict]`
that states each hypothesis of the paper or its authors' group next to our result.
`python -m experiments run NAME` writes its results under `runs/experiments/NAME/`, and
`python -m experiments report` turns every full run into one Markdown report with plots.
The package sits on top of `pinet` and `data_prep`; nothing imports it.
"""
