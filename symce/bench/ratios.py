"""What a row's timings are compared with: torch eager, the fastest peer, and the memory-traffic bound.

Timings are the JSON of :class:`symce.bench.measure.Timing` (or None where not measured). The
bound of a part of a row is the seconds its unavoidable memory traffic takes at the copy bandwidth
measured on an array of the row's size: ``bytes / bandwidth``; a reading reaches the fraction
``bound / median`` of it (1: as fast as copying the logits; above 1 is possible where the data
stays in caches that the copy's larger footprint leaves).
"""
from __future__ import annotations


def speedup(reference: dict | None, timing: dict | None, statistic: str = "median_s") -> float | None:
    """The reference's time (its median, or ``statistic``) over ``timing``'s median; None where
    either is missing."""
    return reference[statistic] / timing["median_s"] if reference and timing else None


def fastest(timings: dict[str, dict | None], keys) -> str | None:
    """The key among ``keys`` whose timing has the smallest median (None where none was measured)."""
    measured = [key for key in keys if timings.get(key)]
    return min(measured, key=lambda key: timings[key]["median_s"]) if measured else None


def traffic_bound(nbytes: int, bandwidth: float, timings: dict[str, dict | None]) -> dict:
    """{"bytes", "seconds": nbytes / bandwidth, "fraction": key → seconds / its median (None where
    not measured)}."""
    seconds = nbytes / bandwidth
    return {"bytes": nbytes, "seconds": seconds,
            "fraction": {key: seconds / timing["median_s"] if timing else None for key, timing in timings.items()}}
