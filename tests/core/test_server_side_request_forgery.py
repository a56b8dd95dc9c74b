"""Server-side request forgery: URLs Gridcast calls for its users (webhooks) may not reach loopback,
private, link-local, multicast, reserved or unspecified addresses, IPv4 or IPv6 (IPv4-mapped, 6to4
and Teredo forms included), nor host names resolving to them, unless the operator allows them
(GRIDCAST["OUTBOUND_ALLOW"]); only http(s)."""

import pytest

from core import outbound

REFUSED_HOSTS = [
    "http://127.0.0.1/",
    "http://127.1.2.3:8080/x",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://0/",
    "http://2130706433/",  # 127.0.0.1 as one number
    "http://0x7f000001/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://240.0.0.1/",
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://[ff02::1]/",
    "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
]


@pytest.mark.parametrize("url", REFUSED_HOSTS)
def test_non_public_addresses_are_refused(url, settings):
    settings.GRIDCAST = {**settings.GRIDCAST, "OUTBOUND_ALLOW": []}
    with pytest.raises(outbound.OutboundRefused) as refused:
        outbound.check_url(url)
    assert "only public addresses" in refused.value.message


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_FLUSHALL",
        "javascript:alert(1)",
        "example.com/hook",
        "//example.com/hook",
        "",
        "http://",
        "http://exa mple.com/",
        "http://user:pass@8.8.8.8/",
        "http://8.8.8.8:99999/",
        "http://8.8.8.8/\r\nX-Injected: 1",
        "https://" + "a" * 2000 + ".com/",
    ],
)
def test_what_is_not_an_http_url_is_refused_with_a_reason(url):
    with pytest.raises(outbound.OutboundRefused) as refused:
        outbound.check_url(url)
    assert refused.value.message and refused.value.code == "url_refused"


def test_a_host_that_does_not_resolve_is_refused():
    with pytest.raises(outbound.OutboundRefused, match="does not resolve"):
        outbound.check_url("https://no-such-host.invalid/hook")


def test_public_addresses_pass():
    assert outbound.check_url("https://8.8.8.8/hook") == "https://8.8.8.8/hook"
    assert outbound.check_url("http://[2001:4860:4860::8888]:8080/x")


@pytest.mark.parametrize(
    "allow, url",
    [
        (["127.0.0.1"], "http://127.0.0.1:9000/"),
        (["127.0.0.0/8"], "http://localhost:9000/"),
        (["10.1.0.0/16"], "http://10.1.2.3/"),
        (["::1"], "http://[::1]/"),
        (["localhost"], "http://localhost/"),
    ],
)
def test_the_operator_allows_exceptions(allow, url, settings):
    settings.GRIDCAST = {**settings.GRIDCAST, "OUTBOUND_ALLOW": allow}
    assert outbound.check_url(url) == url


def test_an_exception_allows_only_what_it_names(settings):
    settings.GRIDCAST = {**settings.GRIDCAST, "OUTBOUND_ALLOW": ["10.1.0.0/16"]}
    for url in ("http://10.2.0.1/", "http://127.0.0.1/", "http://169.254.169.254/"):
        with pytest.raises(outbound.OutboundRefused):
            outbound.check_url(url)


def test_a_request_is_refused_before_connecting(settings):
    settings.GRIDCAST = {**settings.GRIDCAST, "OUTBOUND_ALLOW": []}
    with pytest.raises(outbound.OutboundRefused):
        outbound.post("http://127.0.0.1:9/", b"{}", {})
