"""lib.run_config.check_keys: the key check every grid's `check` starts with."""
from __future__ import annotations

import pytest

from lib.run_config import check_keys


def test_complete_configs_pass_and_extra_keys_pass_unless_exact():
    check_keys({"a": 1, "b": 2}, ("a", "b"), "test", exact=True)
    check_keys({"a": 1, "b": 2, "c": 3}, ("a", "b"), "test")


def test_missing_keys_are_named_with_the_config():
    with pytest.raises(ValueError, match=r"a test config lacks \['b'\]: \{'a': 1\}"):
        check_keys({"a": 1}, ("a", "b"), "test")


def test_exact_names_missing_and_unknown_keys_and_what_it_needs():
    with pytest.raises(ValueError, match=r"lacks \['b'\] and has unknown keys \['c', 'd'\]; it needs exactly the "
                                         r"keys \['a', 'b'\]"):
        check_keys({"a": 1, "d": 4, "c": 3}, ("a", "b"), "test", exact=True)
    with pytest.raises(ValueError, match=r"^a test config has unknown keys \['c'\]"):
        check_keys({"a": 1, "b": 2, "c": 3}, ("a", "b"), "test", exact=True)
