"""Lectures 51–53: a sequence model on a noisy sine, and the time machine as text and as n-grams."""

from __future__ import annotations

EXPERIMENTS = ()
