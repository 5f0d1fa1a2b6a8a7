"""Lectures 54–59: character language models on the time machine, from a scratch RNN to deep and
bidirectional LSTMs, trained the way the book's ``train_ch8`` does."""

from __future__ import annotations

EXPERIMENTS = ()
