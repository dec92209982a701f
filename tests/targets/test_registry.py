import pytest
from edgesdk.targets.registry import get_target, list_targets

from edgesdk.errors import TargetError


def test_specs_parse_and_ids_are_unique():
    ids = [t.id for t in list_targets()]
    assert "host" in ids and "android-arm64" in ids
    assert len(ids) == len(set(ids))


def test_family_alias_resolves():
    assert get_target("android").id == "android-arm64"
    assert get_target("host").family == "host"


def test_unknown_target_lists_known_ones():
    with pytest.raises(TargetError, match="known targets: .*host"):
        get_target("toaster")
