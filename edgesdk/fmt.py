"""Number formatting for tables (CLI and report.md), tolerant of what a runner did not measure."""

from __future__ import annotations


def fmt_ms(value: float | None, digits: int = 2) -> str:
    """A latency cell; '-' when the runner could not give that statistic (e.g. benchmark_model
    prints no per-run times, so a phone profile has no p90/p99)."""
    return "-" if value is None else f"{value:.{digits}f}"


def fmt_mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:.0f}"


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} KB"
