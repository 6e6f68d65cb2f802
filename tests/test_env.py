import pytest
from django.core.exceptions import ImproperlyConfigured

from project.env import env_bool, env_int, env_list, env_str


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("TRUE", True),
        (" yes ", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("", False),
    ],
)
def test_env_bool_reads_common_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("X_FLAG", raw)
    assert env_bool("X_FLAG", not expected) is expected


def test_env_bool_default_when_unset(monkeypatch):
    monkeypatch.delenv("X_FLAG", raising=False)
    assert env_bool("X_FLAG", True) is True


def test_env_bool_refuses_nonsense(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG must be a boolean"):
        env_bool("X_FLAG", False)


def test_env_int(monkeypatch):
    monkeypatch.setenv("X_INT", "42")
    assert env_int("X_INT", 1) == 42
    monkeypatch.setenv("X_INT", "")
    assert env_int("X_INT", 7) == 7


@pytest.mark.parametrize(("raw", "message"), [("4.5", "must be an integer"), ("-1", "at least 0")])
def test_env_int_refuses_bad_values(monkeypatch, raw, message):
    monkeypatch.setenv("X_INT", raw)
    with pytest.raises(ImproperlyConfigured, match=message):
        env_int("X_INT", 1, minimum=0)


def test_env_list_splits_on_commas_and_drops_blanks(monkeypatch):
    monkeypatch.setenv("X_LIST", " a.example.com, ,b.example.com,")
    assert env_list("X_LIST") == ["a.example.com", "b.example.com"]
    monkeypatch.delenv("X_LIST")
    assert env_list("X_LIST", ["d"]) == ["d"]


def test_env_str(monkeypatch):
    monkeypatch.delenv("X_STR", raising=False)
    assert env_str("X_STR", "fallback") == "fallback"
