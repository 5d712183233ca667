"""Learning: strategy specs, the rule language and signals (``strategies``), indicators and features
(``features``); later the ML and RL learners. Depends on domain and ports only; services call it."""

__all__: list[str] = []
