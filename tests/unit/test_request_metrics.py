"""An ingress request's metric labels take few values, whatever a client sends."""

import pytest

from ingress.http.middleware import method_label


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_a_standard_method_is_its_own_label(method):
    assert method_label(method) == method


@pytest.mark.parametrize("method", ["PROPFIND", "BREW", "get", "X" * 40])
def test_any_other_method_is_labelled_other(method):
    assert method_label(method) == "other"
