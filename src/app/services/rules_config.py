"""The configuration mapped onto the domain's rule settings (risk bands, exposure caps, paper rules)."""

from __future__ import annotations

from app.domain.budget import Budget
from app.domain.exposure import ClusterDef, ExposureLimits
from app.domain.risk_values import DrawdownStep, RiskBand, RiskLimits
from app.domain.session import PaperRules
from app.domain.values import Asset
from app.services.config_schema import AppConfig

__all__ = ["budget_from", "clusters_from", "exposure_limits_from", "paper_rules_from", "risk_limits_from"]


def risk_limits_from(config: AppConfig, asset: Asset) -> RiskLimits:
    """The asset's risk band and drawdown steps as the domain's RiskLimits."""
    risk = config.get_asset(asset).risk
    band = RiskBand(
        risk_fraction=risk.risk_fraction,
        min_stop_distance=risk.min_sl_distance_pct,
        max_stop_distance=risk.max_sl_distance_pct,
        default_stop_distance=risk.default_stop_pct,
        max_position_fraction=risk.max_position_pct,
        max_leverage=risk.max_leverage,
        daily_loss_fraction=risk.daily_loss_cap_pct,
        max_strategy_positions=risk.per_strategy_max_positions,
        max_strategy_risk_fraction=risk.per_strategy_max_open_risk_pct,
    )
    steps = tuple(DrawdownStep(s.drawdown, s.risk_multiplier) for s in risk.drawdown_steps)
    return RiskLimits(bands={asset: band}, drawdown_steps=steps)


def exposure_limits_from(config: AppConfig) -> ExposureLimits:
    exposure = config.exposure
    return ExposureLimits(
        max_positions=exposure.max_concurrent_positions,
        max_positions_per_cluster=exposure.max_positions_per_cluster,
        max_cluster_fraction=exposure.max_cluster_alloc_pct,
        max_gross_fraction=exposure.max_gross_exposure_pct,
        max_net_fraction=exposure.max_net_exposure_pct,
    )


def clusters_from(config: AppConfig) -> tuple[ClusterDef, ...]:
    return tuple(ClusterDef(name, frozenset(symbols)) for name, symbols in config.exposure.clusters.items())


def paper_rules_from(config: AppConfig, asset: Asset) -> PaperRules:
    paper = config.get_asset(asset).paper
    return PaperRules(
        start_equity=paper.start_equity,
        topup_threshold=paper.topup_threshold,
        topup_amount=paper.topup_amount,
    )


def budget_from(config: AppConfig, assets: list[Asset]) -> Budget:
    """One bucket per traded asset with its configured allocation."""
    step = min((config.get_asset(a).budget.realloc_step for a in assets), default=None)
    allocations = {a: config.get_asset(a).budget.allocation for a in assets}
    if step is None:
        return Budget.create(allocations)
    return Budget.create(allocations, realloc_step=step)
