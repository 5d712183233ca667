"""config_manager: loading, error reporting, typed access and hot reload of the YAML configuration."""

from __future__ import annotations

import logging
import re
import tempfile
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.errors import ValidationFailed
from app.domain.values import Asset
from app.services.config_manager import (
    ConfigManager,
    ReloadResult,
    config_version,
    load_config,
    summarize,
)
from app.services.config_schema import AppConfig, StorageConfig
from app.services.config_schema_assets import AssetsConfig

DEFAULT_YAML = Path(__file__).resolve().parents[2] / "config" / "default.yaml"


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(path: Path) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        load_config(path)
    assert caught.value.source == str(path)
    return dict(caught.value.problems)


def key_paths(node: Any, prefix: str = "") -> set[str]:
    if not isinstance(node, dict):
        return set()
    paths: set[str] = set()
    for key, value in node.items():
        path = f"{prefix}{key}"
        paths |= {path} | key_paths(value, f"{path}.")
    return paths


# -- the packaged defaults ------------------------------------------------------------------------------


def test_default_yaml_loads_to_exactly_the_builtin_defaults() -> None:
    assert load_config(DEFAULT_YAML) == AppConfig()


def test_default_yaml_names_every_key_of_the_schema() -> None:
    written = key_paths(yaml.safe_load(DEFAULT_YAML.read_text(encoding="utf-8")))
    expected = key_paths(AppConfig().model_dump(mode="json", by_alias=True))
    assert written == expected


def test_every_setting_in_default_yaml_carries_a_comment() -> None:
    lines = DEFAULT_YAML.read_text(encoding="utf-8").splitlines()
    uncommented = [
        line
        for index, line in enumerate(lines)
        if re.match(r"^\s*[a-z_]+:", line)
        and "#" not in line
        and not (index > 0 and lines[index - 1].strip().startswith("#"))
    ]
    assert uncommented == []


def test_no_path_means_the_builtin_defaults() -> None:
    assert load_config(None) == AppConfig()


def test_default_risk_bands_tighten_from_spot_to_options() -> None:
    config = AppConfig()
    fractions = [config.assets.get(asset).risk.risk_fraction for asset in Asset]
    assert [asset.value for asset in Asset] == ["spot", "futures", "forex", "options"]
    assert fractions == sorted(fractions, reverse=True)
    assert len(set(fractions)) == 4


def test_configuration_is_frozen() -> None:
    config = AppConfig()
    with pytest.raises(pydantic.ValidationError):
        config.runtime.seed = 8  # type: ignore[misc]


# -- partial files ------------------------------------------------------------------------------------


def test_a_partial_file_takes_defaults_for_every_missing_key(tmp_path: Path) -> None:
    path = write(tmp_path, "runtime:\n  seed: 11\n")

    config = load_config(path)

    assert config.runtime.seed == 11
    assert config.model_copy(update={"runtime": AppConfig().runtime}) == AppConfig()


def test_a_partial_asset_is_completed_from_that_assets_own_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        assets:
          futures:
            risk:
              risk_fraction: 0.01
        """,
    )

    futures = load_config(path).assets.futures

    assert futures.risk.risk_fraction == Decimal("0.01")
    assert futures.risk.max_leverage == Decimal(5)
    assert futures.fees == AppConfig().assets.futures.fees
    assert futures.broker == "bybit"


def test_a_section_left_empty_means_its_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "validation:\nassets:\n  options:\n")

    assert load_config(path) == AppConfig()


# -- errors -------------------------------------------------------------------------------------------


def test_an_unknown_key_is_named_by_its_path_with_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, "assets:\n  spot:\n    risk:\n      risk_fracton: 0.01\n")

    problems = problems_of(path)

    assert list(problems) == ["assets.spot.risk.risk_fracton"]
    assert "unknown key" in problems["assets.spot.risk.risk_fracton"]
    assert "did you mean 'risk_fraction'" in problems["assets.spot.risk.risk_fracton"]


def test_an_unknown_asset_class_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "assets:\n  crypto:\n    enabled: true\n")

    assert problems_of(path) == {"assets.crypto": "unknown key (known keys: spot, futures, forex, options)"}


def test_every_bad_field_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        runtime:
          seed: -1
        assets:
          options:
            risk:
              risk_fraction: 1.5
        validation:
          max_drawdown: 0
        logging:
          level: LOUD
        """,
    )

    problems = problems_of(path)

    assert set(problems) == {
        "runtime.seed",
        "assets.options.risk.risk_fraction",
        "validation.max_drawdown",
        "logging.level",
    }
    assert problems["runtime.seed"] == "must be greater than or equal to 0 (got -1)"


def test_reasons_are_plain_words_without_pydantic_links(tmp_path: Path) -> None:
    path = write(tmp_path, "exploration:\n  cooldown_minutes: soon\n")

    reason = problems_of(path)["exploration.cooldown_minutes"]

    assert "http" not in reason
    assert reason.startswith("must be a valid number")


def test_a_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "runtime:\n  seed: 7\n  mode: [paper\n")

    with pytest.raises(ValidationFailed) as caught:
        load_config(path)

    assert caught.value.problems == [
        (
            "line 4, column 1",
            "expected ',' or ']', but got '<stream end>' (while parsing a flow sequence at line 3, column 9)",
        )
    ]


def test_a_duplicate_key_is_refused_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "runtime:\n  seed: 7\n  seed: 8\n")

    assert problems_of(path) == {
        "line 3, column 3": "duplicate key 'seed' (in the mapping that starts at line 2, column 3)"
    }


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "the file is empty"),
        ("- runtime\n", "expected a mapping of sections at the top level, got a list"),
    ],
)
def test_a_file_without_a_mapping_is_refused(tmp_path: Path, content: str, expected: str) -> None:
    path = write(tmp_path, content)

    assert problems_of(path)[""].startswith(expected)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "nope.yaml") == {"": "file not found"}


def test_a_secret_written_in_the_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = write(tmp_path, "brokers:\n  bybit:\n    api_secret: s3cr3t-value\n")

    problems = problems_of(path)

    assert list(problems) == ["brokers.bybit.api_secret"]
    assert "environment variable" in problems["brokers.bybit.api_secret"]
    assert "s3cr3t-value" not in problems["brokers.bybit.api_secret"]


def test_a_secret_pasted_where_a_variable_name_belongs_is_refused_without_echoing_it(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "notifications:\n  telegram:\n    bot_token_env: '123456:AAbbCC-dd'\n")

    reason = problems_of(path)["notifications.telegram.bot_token_env"]

    assert "NAME of an environment variable" in reason
    assert "123456" not in reason


def test_a_default_stop_outside_the_stop_band_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "assets:\n  spot:\n    risk:\n      default_stop_pct: 0.2\n")

    assert problems_of(path) == {
        "assets.spot.risk.default_stop_pct": "must lie within the stop band [0.002, 0.10] "
        "(min/max_sl_distance_pct) (got 0.2)"
    }


def test_drawdown_steps_out_of_order_point_at_the_offending_step(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        assets:
          futures:
            risk:
              drawdown_steps:
                - {drawdown: 0.10, risk_multiplier: 0.5}
                - {drawdown: 0.05, risk_multiplier: 0.25}
        """,
    )

    assert list(problems_of(path)) == ["assets.futures.risk.drawdown_steps.1.drawdown"]


def test_an_asset_on_the_wrong_broker_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "assets:\n  forex:\n    broker: bybit\n")

    assert problems_of(path) == {
        "assets.forex.broker": "forex and options trade through ibkr, not bybit (got 'bybit')"
    }


def test_paper_and_live_may_not_share_a_database(tmp_path: Path) -> None:
    path = write(tmp_path, "storage:\n  live_db: paper.db\n")

    assert list(problems_of(path)) == ["storage.live_db"]


def test_a_timeframe_that_does_not_parse_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  synthetic:\n    timeframe: 5 minutes\n")

    assert "invalid timeframe" in problems_of(path)["feeds.synthetic.timeframe"]


def test_a_cluster_with_a_bad_name_and_a_repeated_symbol_reports_both(tmp_path: Path) -> None:
    path = write(tmp_path, "exposure:\n  clusters:\n    Majors: [EURUSD, EURUSD]\n")

    assert set(problems_of(path)) == {"exposure.clusters.Majors", "exposure.clusters.Majors.1"}


# -- the manager --------------------------------------------------------------------------------------


def test_get_returns_a_section_by_name() -> None:
    manager = ConfigManager(None)

    assert isinstance(manager.get("assets"), AssetsConfig)


def test_get_with_an_unknown_section_names_the_known_ones() -> None:
    manager = ConfigManager(None)

    with pytest.raises(ValueError, match=r"unknown config section 'asset'.*assets, exposure"):
        manager.get("asset")


def test_typed_getters_return_the_loaded_values(tmp_path: Path) -> None:
    path = write(tmp_path, "assets:\n  options:\n    risk:\n      risk_fraction: 0.004\n")

    manager = ConfigManager(path)

    assert manager.get_risk(Asset.OPTIONS).risk_fraction == Decimal("0.004")
    assert manager.get_asset(Asset.OPTIONS).broker == "ibkr"
    assert manager.get_storage() == StorageConfig()


def test_reload_adopts_a_valid_change_under_a_new_version(tmp_path: Path) -> None:
    path = write(tmp_path, "runtime:\n  seed: 1\n")
    manager = ConfigManager(path)
    old_version = manager.version
    write(tmp_path, "runtime:\n  seed: 2\n")

    result = manager.reload_if_changed()

    assert result == ReloadResult(changed=True, accepted=True, version=manager.version, problems=[])
    assert manager.config.runtime.seed == 2
    assert manager.version != old_version


def test_reload_refuses_an_invalid_change_and_keeps_the_old_config(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, "runtime:\n  seed: 1\n")
    manager = ConfigManager(path)
    old_config, old_version = manager.config, manager.version
    write(tmp_path, "runtime:\n  seed: -5\n")

    with caplog.at_level(logging.WARNING, logger="app.config"):
        result = manager.reload_if_changed()

    assert (result.changed, result.accepted, result.version) == (True, False, old_version)
    assert [where for where, _ in result.problems] == ["runtime.seed"]
    assert manager.config is old_config
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "runtime.seed: must be greater than or equal to 0" in record.getMessage()


def test_a_refused_file_is_not_reported_again_until_it_changes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, "runtime:\n  seed: 1\n")
    manager = ConfigManager(path)
    write(tmp_path, "runtime:\n  seeds: 2\n")
    manager.reload_if_changed()
    caplog.clear()

    with caplog.at_level(logging.WARNING, logger="app.config"):
        result = manager.reload_if_changed()

    assert (result.changed, result.accepted) == (False, False)
    assert caplog.records == []


def test_reload_of_an_unchanged_file_changes_nothing(tmp_path: Path) -> None:
    manager = ConfigManager(write(tmp_path, "runtime:\n  seed: 1\n"))

    result = manager.reload_if_changed()

    assert result == ReloadResult(changed=False, accepted=True, version=manager.version)


def test_reload_keeps_the_config_when_the_file_disappears(tmp_path: Path) -> None:
    path = write(tmp_path, "runtime:\n  seed: 3\n")
    manager = ConfigManager(path)
    path.unlink()

    result = manager.reload_if_changed()

    assert (result.accepted, result.problems) == (False, [("", "file not found")])
    assert manager.config.runtime.seed == 3


# -- versions and summary -----------------------------------------------------------------------------


def test_the_version_depends_on_content_not_on_spelling(tmp_path: Path) -> None:
    plain = write(tmp_path, "assets:\n  spot:\n    fees: {maker: 0.001}\n", "a.yaml")
    quoted = write(tmp_path, "# a comment\nassets:\n  spot:\n    fees: {maker: '0.0010'}\n", "b.yaml")

    assert ConfigManager(plain).version == ConfigManager(quoted).version == config_version(AppConfig())


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**31),
    risk_fraction=st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("0.02"), places=4),
)
def test_a_dumped_config_loads_back_equal_with_the_same_version(seed: int, risk_fraction: Decimal) -> None:
    spot = AppConfig().assets.spot
    changed_risk = spot.risk.model_copy(update={"risk_fraction": risk_fraction})
    config = AppConfig.model_validate(
        {
            "runtime": {"seed": seed},
            "assets": {"spot": spot.model_copy(update={"risk": changed_risk})},
        }
    )
    text = yaml.safe_dump(config.model_dump(mode="json", by_alias=True))

    with tempfile.TemporaryDirectory() as folder:
        loaded = load_config(write(Path(folder), text))

    assert loaded == config
    assert config_version(loaded) == config_version(config)


def test_different_configs_have_different_versions() -> None:
    other = AppConfig.model_validate({"runtime": {"seed": 8}})

    assert config_version(other) != config_version(AppConfig())


def test_summary_lists_enabled_assets_gate_and_version() -> None:
    config = AppConfig()

    lines = summarize(config)

    assert lines[0] == f"config version {config_version(config)}"
    assert any(line.startswith("asset spot: broker bybit, allocation 1000 USD, risk 2% ") for line in lines)
    assert not any(line.startswith("asset forex") for line in lines)
    assert "disabled assets: forex, options" in lines
    assert any("profit factor >= 1.5" in line and "online trades >= 100" in line for line in lines)


def test_storage_paths_resolve_against_the_home_folder(tmp_path: Path) -> None:
    storage = StorageConfig(home=tmp_path)

    assert (storage.db_path("paper"), storage.db_path("live"), storage.log_path()) == (
        tmp_path / "paper.db",
        tmp_path / "live.db",
        tmp_path / "app.log",
    )
