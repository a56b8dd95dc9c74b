"""Redis clients for REDIS_URL, which names either one Redis (redis://, rediss://) or a Redis
Cluster (redis+cluster://host:port,host:port/, rediss+cluster:// with TLS; docs/operations.md),
and the cache backend for a cluster.

A cluster URL lists some of the cluster's nodes (any of them; the client learns the others and
which master owns which slot from the first that answers). A cluster has database 0 only.
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.core.exceptions import ImproperlyConfigured

CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}  # scheme -> TLS
# Attempts of a command on a cluster when a node does not answer (redis-py's default, 10, kept a
# writer waiting seconds while a master failed over). Gridcast's broadcasts are repaired by replay,
# and its cache and limits give up gracefully: fail fast instead.
CLUSTER_RETRIES = 3


@dataclass(frozen=True)
class ClusterURL:
    nodes: list[tuple[str, int]]
    username: str | None = None
    password: str | None = None
    ssl: bool = False

    def client_options(self) -> dict:
        """Keyword arguments that redis.cluster.RedisCluster and its asyncio twin both take."""
        options = {"username": self.username, "password": self.password}
        if self.ssl:
            options["ssl"] = True
        return {k: v for k, v in options.items() if v is not None}


def is_cluster(url: str | None) -> bool:
    return bool(url) and url.split("://", 1)[0].lower() in CLUSTER_SCHEMES


def parse_cluster_url(url: str) -> ClusterURL:
    """redis+cluster://[user:password@]host:port[,host:port...][/0] -> its nodes and credentials."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in CLUSTER_SCHEMES:
        raise ImproperlyConfigured("REDIS_URL: not a Redis Cluster URL (redis+cluster://host:port,...)")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username = password = None
    if userinfo:
        username, _, password = userinfo.partition(":")
        username, password = unquote(username) or None, unquote(password) or None
    nodes = []
    for node in filter(None, hosts.split(",")):
        host, _, port = node.rpartition(":")
        if not host or not port.isdigit():
            raise ImproperlyConfigured(f"REDIS_URL: a cluster node is host:port, not {node!r}")
        nodes.append((host.strip("[]"), int(port)))
    if not nodes:
        raise ImproperlyConfigured("REDIS_URL: a Redis Cluster URL names at least one node (host:port)")
    if parts.path.strip("/") not in ("", "0"):
        raise ImproperlyConfigured("REDIS_URL: a Redis Cluster has database 0 only")
    return ClusterURL(nodes, username, password, CLUSTER_SCHEMES[scheme])


def sync_client(url: str, **options: Any) -> Any:
    """A redis-py client for `url`: redis.Redis, or redis.cluster.RedisCluster for a cluster."""
    if not is_cluster(url):
        import redis

        return redis.Redis.from_url(url, **options)
    from redis.backoff import ExponentialWithJitterBackoff
    from redis.cluster import ClusterNode, RedisCluster
    from redis.retry import Retry

    cluster = parse_cluster_url(url)
    options.setdefault("retry", Retry(ExponentialWithJitterBackoff(), CLUSTER_RETRIES))
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in cluster.nodes],
        **cluster.client_options(),
        **options,
    )


def async_client(url: str, **options: Any) -> Any:
    """The asyncio twin of sync_client(): redis.asyncio.Redis or redis.asyncio.cluster.RedisCluster."""
    if not is_cluster(url):
        import redis.asyncio as aioredis

        return aioredis.Redis.from_url(url, **options)
    from redis.asyncio.cluster import ClusterNode, RedisCluster
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialWithJitterBackoff

    cluster = parse_cluster_url(url)
    options.setdefault("retry", Retry(ExponentialWithJitterBackoff(), CLUSTER_RETRIES))
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in cluster.nodes],
        **cluster.client_options(),
        **options,
    )


class ClusterCacheClient(RedisCacheClient):
    """Django's Redis cache client on a RedisCluster: one client (it keeps a pool per node), and the
    commands over several keys split by slot (MGET and MSET refuse keys of different slots)."""

    def __init__(self, servers, **options):
        super().__init__(servers, **options)
        self._cluster = None
        self._cluster_options = {
            k: v for k, v in options.items() if k not in ("serializer", "pool_class", "parser_class")
        }

    def get_client(self, key=None, *, write=False):
        if self._cluster is None:
            self._cluster = sync_client(self._servers[0], **self._cluster_options)
        return self._cluster

    def get_many(self, keys):
        values = self.get_client().mget_nonatomic(keys)
        return {k: self._serializer.loads(v) for k, v in zip(keys, values) if v is not None}

    def set_many(self, data, timeout):
        pipeline = self.get_client(write=True).pipeline()
        for key, value in data.items():
            value = self._serializer.dumps(value)
            if timeout == 0:
                pipeline.delete(key)
            else:
                pipeline.set(key, value, ex=timeout)
        pipeline.execute()

    def delete_many(self, keys):
        self.get_client(write=True).delete(*keys)  # RedisCluster splits DEL by slot

    def clear(self):
        return bool(self.get_client(write=True).flushdb(target_nodes="primaries"))


class RedisClusterCache(RedisCache):
    """The cache on a Redis Cluster: LOCATION is the redis+cluster:// URL (in a list, since Django
    splits a string at its commas)."""

    def __init__(self, server, params):
        super().__init__(server, params)
        if isinstance(server, str):  # Django split the node list: put it together again
            self._servers = [",".join(self._servers)]
        self._class = ClusterCacheClient
