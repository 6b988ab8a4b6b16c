"""Rate limits of POST /v1/related that fit a CMS: per API key for keyed callers (per-key
values, or exempt), per client address for anonymous ones, that address read from
X-Forwarded-For only when the peer is a trusted proxy. (Through real nginx:
tests/test_deploy_nginx.py.)"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from service import create_app
from service.rate_limits import client_address, parse_key_limits, parse_networks

# ALSOSEE_API_KEYS entries are NAME:SECRET; a caller sends the secret
CMS, DESK, OTHER = "c" * 32, "d" * 32, "o" * 32
DRAFT = {"title": "floods in the capital"}


def _app(trained_model_dir: Path, tmp_path: Path, **config):
    return create_app({"TESTING": True, "MODEL_DIR": str(trained_model_dir),
                       "STATE_DB": str(tmp_path / "state.db"),
                       "API_KEYS": f"cms:{CMS},desk:{DESK},other:{OTHER}", **config})


def _post(client, peer: str = "192.0.2.1", key: str | None = None,
          forwarded: str | None = None) -> int:
    headers = {}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if forwarded:
        headers["X-Forwarded-For"] = forwarded
    return client.post("/v1/related", json=DRAFT, headers=headers,
                       environ_base={"REMOTE_ADDR": peer}).status_code


def test_keyed_callers_are_limited_per_key_not_per_address(trained_model_dir, tmp_path):
    client = _app(trained_model_dir, tmp_path, RATE_LIMIT="2/minute", KEY_RATE_LIMIT="3/minute",
                  KEY_RATE_LIMITS="cms=off,other=1/minute").test_client()
    # anonymous, one address: 2 then 429
    assert [_post(client) for _ in range(3)] == [200, 200, 429]
    # the CMS back end from that same address: exempt (its own setting)
    assert [_post(client, key=CMS) for _ in range(10)] == [200] * 10
    # desk: the default key limit, whatever the address it comes from
    assert [_post(client, peer=f"198.51.100.{i}", key=DESK) for i in range(4)] == [
        200, 200, 200, 429]
    assert [_post(client, key=OTHER) for _ in range(2)] == [200, 429]
    # a wrong key is an anonymous caller (no 401 on a public endpoint), limited by address
    assert _post(client, peer="192.0.2.1", key="c" * 31) == 429
    assert _post(client, peer="192.0.2.9", key="c" * 31) == 200


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(trained_model_dir, tmp_path):
    client = _app(trained_model_dir, tmp_path, RATE_LIMIT="1/minute",
                  TRUSTED_PROXIES="127.0.0.1,10.0.0.0/8").test_client()
    # behind the proxy, readers have their own buckets
    assert _post(client, peer="127.0.0.1", forwarded="203.0.113.1") == 200
    assert _post(client, peer="10.1.2.3", forwarded="203.0.113.2") == 200
    assert _post(client, peer="127.0.0.1", forwarded="203.0.113.1") == 429
    # a reader's own X-Forwarded-For further left is not believed: the proxy appended
    # the real address, and that one is counted
    assert _post(client, peer="127.0.0.1", forwarded="198.51.100.7, 203.0.113.1") == 429
    # a direct client (not a trusted proxy) cannot pick its bucket with the header
    assert _post(client, peer="192.0.2.50", forwarded="203.0.113.77") == 200
    assert _post(client, peer="192.0.2.50", forwarded="203.0.113.78") == 429


def test_without_trusted_proxies_the_peer_is_the_client(trained_model_dir, tmp_path):
    client = _app(trained_model_dir, tmp_path, RATE_LIMIT="1/minute").test_client()
    assert _post(client, peer="127.0.0.1", forwarded="203.0.113.1") == 200
    assert _post(client, peer="127.0.0.1", forwarded="203.0.113.2") == 429


def test_client_address() -> None:
    nets = parse_networks("127.0.0.1, 10.0.0.0/8 ,::1")
    assert nets[1] == ipaddress.ip_network("10.0.0.0/8")
    assert client_address("127.0.0.1", ["1.2.3.4, 10.0.0.5"], nets) == "1.2.3.4"
    assert client_address("127.0.0.1", ["5.5.5.5", "1.2.3.4"], nets) == "1.2.3.4"
    assert client_address("8.8.8.8", ["1.2.3.4"], nets) == "8.8.8.8"
    assert client_address("127.0.0.1", [], nets) == "127.0.0.1"
    # only proxies in the chain: the left-most one is all there is
    assert client_address("::1", ["10.0.0.1, 10.0.0.2"], nets) == "10.0.0.1"
    assert client_address("127.0.0.1", ["1.2.3.4"], ()) == "127.0.0.1"


@pytest.mark.parametrize(("config", "message"), [
    ({"TRUSTED_PROXIES": "127.0.0.1,proxy.local"}, "'proxy.local' is not an IP address"),
    ({"KEY_RATE_LIMITS": "cms"}, "expected NAME=LIMIT"),
    ({"KEY_RATE_LIMITS": "cms=lots"}, "for key 'cms': 'lots' is not a rate limit"),
    ({"KEY_RATE_LIMIT": "fast"}, "key_rate_limit (ALSOSEE_KEY_RATE_LIMIT): 'fast'"),
])
def test_bad_settings_are_refused_naming_them(trained_model_dir, tmp_path, config, message):
    with pytest.raises(ValueError) as caught:
        _app(trained_model_dir, tmp_path, **config)
    assert message in str(caught.value)


def test_key_limits_from_toml_table() -> None:
    assert parse_key_limits({"cms": "off", "desk": "5/second"}) == {"cms": "off",
                                                                     "desk": "5/second"}
