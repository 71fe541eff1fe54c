"""Tooling without its optional packages fails with the pip command that installs them."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from retrieval.errors import ConfigurationError
from retrieval.rank.signals import FEATURES
from retrieval.tools.extras import require
from retrieval.tools.tune import Case, fit_logit, main


@pytest.fixture
def no_scipy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `import scipy...` fail as it does where scipy is not installed."""
    for name in [m for m in sys.modules if m == "scipy" or m.startswith("scipy.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "scipy", None)


def test_require_returns_an_installed_module() -> None:
    """An installed package is imported and returned as is."""
    assert require("json.decoder").JSONDecoder.__name__ == "JSONDecoder"


def test_fitting_without_scipy_names_the_tools_extra(no_scipy: None) -> None:
    """fit_logit without scipy raises ConfigurationError saying pip install 'citebot[tools]'."""
    features = np.zeros((2, len(FEATURES)))
    gold = np.array([True, False])
    case = Case("q", True, 0, features, features, gold, ["a", "b"], ["a"], [(), ()])
    with pytest.raises(ConfigurationError, match=r"scipy is not installed.*pip install 'citebot\[tools\]'"):
        fit_logit([case])


def test_the_tune_script_fails_before_collecting_without_scipy(no_scipy: None, tmp_path, capsys) -> None:
    """`python -m retrieval.tools.tune` checks for scipy first, before minutes of work on a missing set."""
    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path / "no-such-set")])
    assert stop.value.code == 1
    assert "pip install 'citebot[tools]'" in capsys.readouterr().err
