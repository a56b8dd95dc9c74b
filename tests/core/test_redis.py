"""REDIS_URL: one Redis (redis://) or a Redis Cluster (redis+cluster://host:port,host:port/)."""

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured

from core.redis import is_cluster, parse_cluster_url, sync_client


def test_plain_redis_urls_are_not_clusters():
    for url in ("redis://127.0.0.1:6379/9", "rediss://cache.example:6380/0", "", None):
        assert not is_cluster(url)
    client = sync_client("redis://127.0.0.1:6379/9")
    assert type(client) is redis.Redis
    assert client.connection_pool.connection_kwargs["db"] == 9


def test_a_cluster_url_lists_its_nodes_and_credentials():
    url = "redis+cluster://app:s%40cret@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002/"
    assert is_cluster(url) and is_cluster("REDISS+CLUSTER://h:1")
    cluster = parse_cluster_url(url)
    assert cluster.nodes == [("10.0.0.1", 7000), ("10.0.0.2", 7001), ("::1", 7002)]
    assert (cluster.username, cluster.password, cluster.ssl) == ("app", "s@cret", False)
    assert parse_cluster_url("rediss+cluster://h:7000/0").ssl is True
    assert parse_cluster_url("redis+cluster://:pw@h:7000").client_options() == {"password": "pw"}


@pytest.mark.parametrize(
    "url",
    ["redis+cluster://", "redis+cluster://host", "redis+cluster://host:port", "redis+cluster://h:7000/3"],
)
def test_a_malformed_cluster_url_is_refused_with_a_clear_error(url):
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL"):
        parse_cluster_url(url)
